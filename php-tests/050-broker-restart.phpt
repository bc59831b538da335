--TEST--
RabbitMQ restart during a publishing loop (a private node): every publish returned (its message is in the queue) or threw soon; the same Dq\Producer works again afterwards, also after a restart while it was idle
--EXTENSIONS--
dq
amqp
posix
--SKIPIF--
<?php
if (!is_executable('/usr/sbin/rabbitmq-server') || !is_executable('/usr/sbin/rabbitmqctl')) die('skip rabbitmq-server not installed');
if (function_exists('posix_geteuid') && posix_geteuid() !== 0) die('skip needs root to start a private RabbitMQ node (the Debian wrappers su to rabbitmq)');
?>
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';

$timeout = 1.0;
$rabbit = new TestRabbit();
echo "private node up: ", var_export($rabbit->listening(), true), "\n";

$producer = new Dq\Producer(['amqp' => $rabbit->url(), 'timeout' => $timeout]);
$queue = 'dq-restart';
echo "declared: ", $producer->declareQueue($queue, ['durable' => true]), "\n";

/**
 * Publishes $n (the body) with the producer; records it in $returned or $threw (by exception
 * class) and the longest time a failing publish took.
 */
function attempt(Dq\Producer $producer, string $queue, int $n, array &$returned, array &$threw, float &$slowestFailure): bool
{
    $started = microtime(true);
    try {
        $producer->publish('', $queue, (string) $n, ['persistent' => true]);
        $returned[$n] = true;
        return true;
    } catch (Throwable $e) {
        $threw[$n] = get_class($e) . ': ' . $e->getMessage();
        $slowestFailure = max($slowestFailure, microtime(true) - $started);
        return false;
    }
}

// Phases: 0 = before the restart, 1 = node stopping, down and starting (a background process),
// 2 = after `rabbitmqctl await_startup` said the node is up again.
$returned = $threw = [];
$byPhase = [[0, 0], [0, 0], [0, 0]]; // [returned, threw]
$slowestFailure = 0.0;
$n = 0;
$phase = 0;
$phaseStarted = microtime(true);
$deadline = microtime(true) + 45;
while (microtime(true) < $deadline) {
    if ($phase === 0 && microtime(true) - $phaseStarted > 1.0) {
        $rabbit->restartInBackground(1.0);
        [$phase, $phaseStarted] = [1, microtime(true)];
    } elseif ($phase === 1 && !$rabbit->restarting()) {
        [$phase, $phaseStarted] = [2, microtime(true)];
    } elseif ($phase === 2 && microtime(true) - $phaseStarted > 1.0) {
        break;
    }
    $ok = attempt($producer, $queue, ++$n, $returned, $threw, $slowestFailure);
    $byPhase[$phase][$ok ? 0 : 1]++;
    if (!$ok) {
        usleep(20000); // as an application would before trying again; successes go flat out
    }
}
echo "loop ended after the restart: ", var_export($phase === 2, true), "\n";
printf("attempts: %d, returned: %d, threw: %d\n", $n, count($returned), count($threw));
echo "returned before the restart: ", var_export($byPhase[0][0] > 0, true), ", threw before: {$byPhase[0][1]}\n";
echo "threw while the broker was down: ", var_export($byPhase[1][1] > 0, true), "\n";
echo "returned after it was back: ", var_export($byPhase[2][0] > 0, true), ", threw after: {$byPhase[2][1]}\n";
$classes = array_unique(array_map(fn ($what) => strstr($what, ':', true), $threw));
sort($classes);
echo "exception classes only Connection/Timeout: ", var_export(!array_diff($classes, ['Dq\ConnectionException', 'Dq\TimeoutException']), true), "\n";
echo "every failed publish ended within the timeout (+0.5 s): ", var_export($slowestFailure <= $timeout + 0.5, true), "\n";

// The same object, after the loop: it reconnected by itself.
$after = attempt($producer, $queue, ++$n, $returned, $threw, $slowestFailure);
echo "same Producer publishes again: ", var_export($after, true), "\n";

// A restart while the producer is idle (an FPM worker between requests): its next publish
// succeeds at the first try (the broken connection was noticed, not used).
$rabbit->restart();
$afterIdle = attempt($producer, $queue, ++$n, $returned, $threw, $slowestFailure);
echo "after a second restart while idle, the first publish returns: ", var_export($afterIdle, true), "\n";

// Everything in the queue, read with the pecl amqp extension (not through dq).
$connection = new AMQPConnection(['host' => '127.0.0.1', 'port' => $rabbit->port, 'login' => 'guest', 'password' => 'guest', 'vhost' => '/', 'read_timeout' => 5]);
$connection->connect();
$amqpQueue = new AMQPQueue(new AMQPChannel($connection));
$amqpQueue->setName($queue);
$amqpQueue->setFlags(AMQP_DURABLE);
$inQueue = $amqpQueue->declareQueue();
$seen = [];
while (($envelope = $amqpQueue->get(AMQP_AUTOACK)) !== false) {
    $seen[] = (int) $envelope->getBody();
}
$counts = array_count_values($seen);
$lost = array_keys(array_diff_key($returned, $counts));
$unknown = array_diff(array_keys($counts), range(1, $n));
$duplicated = array_keys(array_filter($counts, fn ($c) => $c > 1));
echo "read from the queue: all that it held: ", var_export(count($seen) === $inQueue, true), "\n";
echo "lost (returned, but not in the queue): ", count($lost), "\n";
echo "bodies never published: ", count($unknown), "\n";
echo "returned and duplicated: ", count(array_intersect($duplicated, array_keys($returned))), "\n";
printf("threw but stored anyway: %d\n", count(array_intersect_key($threw, $counts)));

if ($lost || $unknown || $byPhase[2][1] || $byPhase[0][1] || !$after || !$afterIdle || $slowestFailure > $timeout + 0.5
    || array_diff($classes, ['Dq\ConnectionException', 'Dq\TimeoutException'])) {
    echo "--- diagnostics\nlost: ", json_encode(array_slice($lost, 0, 20)), "\nunknown: ", json_encode(array_slice($unknown, 0, 20)), "\n";
    printf("slowest failure: %.3fs\n", $slowestFailure);
    foreach ($threw as $i => $what) {
        $kind = preg_replace('/\d+/', 'N', $what);
        $kinds[$kind] = ($kinds[$kind] ?? '') . " #$i" . (isset($counts[$i]) ? '(stored)' : '');
    }
    foreach ($kinds ?? [] as $kind => $which) {
        echo "  $kind:", substr($which, 0, 300), "\n";
    }
    echo $rabbit->log(20);
}
$connection->disconnect();
?>
--EXPECTF--
private node up: true
declared: dq-restart
loop ended after the restart: true
attempts: %d, returned: %d, threw: %d
returned before the restart: true, threw before: 0
threw while the broker was down: true
returned after it was back: true, threw after: 0
exception classes only Connection/Timeout: true
every failed publish ended within the timeout (+0.5 s): true
same Producer publishes again: true
after a second restart while idle, the first publish returns: true
read from the queue: all that it held: true
lost (returned, but not in the queue): 0
bodies never published: 0
returned and duplicated: 0
threw but stored anyway: %d
