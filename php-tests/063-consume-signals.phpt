--TEST--
Dq\Consumer::consume() stops on SIGTERM, SIGINT and SIGQUIT, while waiting (well within a second) and while a handler runs (it finishes, its delivery is acked), exit code 0, with or without the script's own pcntl handlers, which still run; an ignored signal stays ignored; next() returns early on a signal (ending a script that left it to its default action)
--EXTENSIONS--
dq
pcntl
posix
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$vhost = new TestVhost('signals');
$url = $vhost->url();
$producer = new Dq\Producer(['amqp' => $url]);
$signals = [SIGTERM => 'SIGTERM', SIGINT => 'SIGINT', SIGQUIT => 'SIGQUIT'];

/** A worker script: $body runs with $consumer on $queue; it prints what it does. */
function worker(string $queue, string $body): string
{
    return '<?php
$consumer = new Dq\Consumer(' . var_export($queue, true) . ', ["amqp" => getenv("AMQP"), "prefetch" => 10]);
' . $body;
}

// One worker per case, all started together; each is driven once every one is consuming.
$workers = [];
foreach ($signals as $signal => $name) {
    $producer->declareQueue("idle-$name");
    $workers["idle $name"] = [new TestWorker(worker("idle-$name", '
$n = $consumer->consume(function (Dq\DeliveryInterface $d) { echo "got ", $d->body(), "\n"; });
echo "consume returned $n\n";
'), ['AMQP' => $url]), "idle-$name"];

    // The handler signals its own process, then goes on: it finishes, its delivery is acked.
    $producer->declareQueue("busy-$name");
    $workers["busy $name"] = [new TestWorker(worker("busy-$name", '
$n = $consumer->consume(function (Dq\DeliveryInterface $d) {
    echo "handling ", $d->body(), "\n";
    posix_kill(getmypid(), ' . $signal . ');
    usleep(100000);
    echo "handler finished\n";
});
echo "consume returned $n\n";
'), ['AMQP' => $url]), "busy-$name"];
}
// The script's own handlers: called after consume() returns (pcntl_signal_dispatch), or at
// once with async signals; still installed afterwards.
$producer->declareQueue('pcntl-idle');
$workers['pcntl idle'] = [new TestWorker(worker('pcntl-idle', '
pcntl_signal(SIGTERM, function (int $signal) { echo "pcntl handler got $signal\n"; });
$n = $consumer->consume(function (Dq\DeliveryInterface $d) {});
echo "consume returned $n\n";
pcntl_signal_dispatch();
echo "handler still installed: ", var_export(pcntl_signal_get_handler(SIGTERM) instanceof Closure, true), "\n";
posix_kill(getmypid(), SIGTERM);
pcntl_signal_dispatch();
echo "still running\n";
'), ['AMQP' => $url]), 'pcntl-idle'];
$producer->declareQueue('pcntl-async');
$workers['pcntl async'] = [new TestWorker(worker('pcntl-async', '
pcntl_async_signals(true);
pcntl_signal(SIGINT, function (int $signal) { echo "pcntl handler got $signal\n"; });
$n = $consumer->consume(function (Dq\DeliveryInterface $d) {
    echo "handling ", $d->body(), "\n";
    posix_kill(getmypid(), SIGINT);
    echo "handler finished\n";
});
echo "consume returned $n\n";
'), ['AMQP' => $url]), 'pcntl-async'];
// After consume() the default action is back: the next SIGTERM ends the process.
$producer->declareQueue('restored');
$workers['restored'] = [new TestWorker(worker('restored', '
$n = $consumer->consume(function (Dq\DeliveryInterface $d) {});
echo "consume returned $n\n";
posix_kill(getmypid(), SIGTERM);
usleep(500000);
echo "survived a SIGTERM after consume()\n";
'), ['AMQP' => $url]), 'restored'];
// A signal the process ignores (as a background job ignores SIGINT) stays ignored.
$producer->declareQueue('ignored');
$workers['ignored'] = [new TestWorker(worker('ignored', '
pcntl_signal(SIGINT, SIG_IGN);
$n = $consumer->consume(function (Dq\DeliveryInterface $d) {});
echo "consume returned $n\n";
'), ['AMQP' => $url]), 'ignored'];
// A fatal error in the handler (memory_limit): PHP ends the script as usual.
$producer->declareQueue('fatal');
$workers['fatal'] = [new TestWorker(worker('fatal', '
ini_set("memory_limit", "16M");
$consumer->consume(function (Dq\DeliveryInterface $d) {
    echo "handling ", $d->body(), "\n";
    $hog = str_repeat("x", 64 << 20);
});
'), ['AMQP' => $url]), 'fatal'];
// next(): null as soon as a signal arrives; a script without a handler ends as it would have.
$producer->declareQueue('next-default');
$workers['next default'] = [new TestWorker(worker('next-default', '
$d = $consumer->next(30.0);
echo "next() returned\n";
'), ['AMQP' => $url]), 'next-default'];
$producer->declareQueue('next-pcntl');
$workers['next pcntl'] = [new TestWorker(worker('next-pcntl', '
pcntl_signal(SIGTERM, function (int $signal) { echo "pcntl handler got $signal\n"; });
$d = $consumer->next(30.0);
echo "next() returned ", var_export($d, true), "\n";
pcntl_signal_dispatch();
'), ['AMQP' => $url]), 'next-pcntl'];

$deadline = microtime(true) + 30;
while (($waiting = array_diff(array_column($workers, 1), dq_consumed_queues($vhost))) && microtime(true) < $deadline) {
    usleep(100000);
}
echo 'every worker consuming: ', var_export($waiting === [], true), "\n";

/** How the worker ended and what it said, one line each. */
function show(string $case, TestWorker $worker, string $ended, ?float $within = null): void
{
    echo "$case: $ended", $within === null ? '' : ', within ' . $within . ' s: ' . var_export($worker->stoppedWithin($within), true), "\n";
    foreach (array_filter(explode("\n", $worker->output()), 'strlen') as $line) {
        echo "  $line\n";
    }
}

echo "-- while waiting\n";
foreach ($signals as $signal => $name) {
    [$worker] = $workers["idle $name"];
    $worker->signal($signal);
    show("$name while waiting", $worker, $worker->wait(10), 1.0);
}

echo "-- while a handler runs: it finishes, its delivery is acked, the others go back\n";
foreach ($signals as $signal => $name) {
    [$worker, $queue] = $workers["busy $name"];
    foreach (['m1', 'm2', 'm3'] as $body) {
        $producer->publish('', $queue, $body);
    }
    show("$name in the handler", $worker, $worker->wait(10));
    echo "  left in $queue: ", dq_list_queues($vhost)[$queue]['messages'], "\n";
}

echo "-- the script's own pcntl handlers\n";
[$worker] = $workers['pcntl idle'];
$worker->signal(SIGTERM);
show('SIGTERM with a pcntl handler, while waiting', $worker, $worker->wait(10), 1.0);
[$worker] = $workers['pcntl async'];
$producer->publish('', 'pcntl-async', 'a1');
show('SIGINT with an async pcntl handler, in the handler', $worker, $worker->wait(10));

echo "-- after consume()\n";
[$worker] = $workers['restored'];
$worker->signal(SIGQUIT);
show('SIGQUIT, then a SIGTERM after consume() returned', $worker, $worker->wait(10));

echo "-- an ignored signal\n";
[$worker] = $workers['ignored'];
$worker->signal(SIGINT);
echo 'SIGINT ignored: ', $worker->wait(0.5), "\n";
$worker->signal(SIGTERM);
show('then SIGTERM', $worker, $worker->wait(10), 1.0);

echo "-- a fatal error in the handler\n";
[$worker] = $workers['fatal'];
$producer->publish('', 'fatal', 'f1');
show('memory_limit in the handler', $worker, $worker->wait(10));
echo '  left in fatal: ', dq_list_queues($vhost)['fatal']['messages'], "\n";

echo "-- next()\n";
[$worker] = $workers['next default'];
$worker->signal(SIGTERM);
show('SIGTERM in next(), no handler', $worker, $worker->wait(10), 1.0);
[$worker] = $workers['next pcntl'];
$worker->signal(SIGTERM);
show('SIGTERM in next(), a pcntl handler', $worker, $worker->wait(10), 1.0);
?>
--EXPECTF--
every worker consuming: true
-- while waiting
SIGTERM while waiting: exit 0, within 1 s: true
  consume returned 0
SIGINT while waiting: exit 0, within 1 s: true
  consume returned 0
SIGQUIT while waiting: exit 0, within 1 s: true
  consume returned 0
-- while a handler runs: it finishes, its delivery is acked, the others go back
SIGTERM in the handler: exit 0
  handling m1
  handler finished
  consume returned 1
  left in busy-SIGTERM: 2
SIGINT in the handler: exit 0
  handling m1
  handler finished
  consume returned 1
  left in busy-SIGINT: 2
SIGQUIT in the handler: exit 0
  handling m1
  handler finished
  consume returned 1
  left in busy-SIGQUIT: 2
-- the script's own pcntl handlers
SIGTERM with a pcntl handler, while waiting: exit 0, within 1 s: true
  consume returned 0
  pcntl handler got 15
  handler still installed: true
  pcntl handler got 15
  still running
SIGINT with an async pcntl handler, in the handler: exit 0
  handling a1
  pcntl handler got 2
  handler finished
  consume returned 1
-- after consume()
SIGQUIT, then a SIGTERM after consume() returned: signal 15
  consume returned 0
-- an ignored signal
SIGINT ignored: running
then SIGTERM: exit 0, within 1 s: true
  consume returned 0
-- a fatal error in the handler
memory_limit in the handler: exit 255
  handling f1
  Fatal error: Allowed memory size of 16777216 bytes exhausted %s
  left in fatal: 1
-- next()
SIGTERM in next(), no handler: signal 15, within 1 s: true
SIGTERM in next(), a pcntl handler: exit 0, within 1 s: true
  next() returned NULL
  pcntl handler got 15
