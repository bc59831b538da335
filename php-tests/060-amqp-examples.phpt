--TEST--
RabbitMQ examples (thinkphp, easyswoole, fpm): every file lints; their dq calls work against a vhost of their own
--EXTENSIONS--
dq
redis
curl
pcntl
posix
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$root = dq_root();
$php = PHP_BINARY . ' -n';

// 1. Lint every PHP file of the three examples (the framework glue cannot run here).
$files = [];
foreach (['thinkphp', 'easyswoole', 'fpm'] as $dir) {
    $it = new RecursiveIteratorIterator(new RecursiveDirectoryIterator("$root/examples/$dir", FilesystemIterator::SKIP_DOTS));
    foreach ($it as $file) {
        if ($file->getExtension() === 'php') {
            $files[] = $file->getPathname();
        }
    }
}
$bad = [];
foreach ($files as $file) {
    exec("$php -l " . escapeshellarg($file) . ' 2>&1', $out, $status);
    if ($status !== 0) {
        $bad[] = implode("\n", $out);
    }
    $out = [];
}
printf("lint: %s (%d files)\n", $bad ? "FAILED\n" . implode("\n", $bad) : 'ok', count($files));

// The plain classes, without ThinkPHP or EasySwoole.
spl_autoload_register(function (string $class) use ($root): void {
    $map = ['app\\' => "$root/examples/thinkphp/app/", 'App\\' => "$root/examples/easyswoole/App/"];
    foreach ($map as $prefix => $dir) {
        if (str_starts_with($class, $prefix)) {
            $file = $dir . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
            if (is_file($file)) {
                require $file;
            }
        }
    }
});

$vhost = new TestVhost('examples-amqp');
$url = $vhost->url();
$prefix = dq_test_prefix('amqp-examples');
$producer = new Dq\Producer(['amqp' => $url]);
$tmp = sys_get_temp_dir() . '/' . $prefix;
mkdir($tmp);
$worker = $sink = null;
// Whatever happens: the worker and the merchant stopped, temp files and keys gone (the vhost: TestVhost).
register_shutdown_function(function () use (&$worker, &$sink, $tmp, $prefix): void {
    if ($worker) {
        posix_kill($worker, SIGKILL);
        pcntl_waitpid($worker, $status);
    }
    if (is_resource($sink)) {
        proc_terminate($sink, 9);
        proc_close($sink);
    }
    array_map('unlink', glob("$tmp/*"));
    @rmdir($tmp);
    dq_cleanup_prefix($prefix);
});

// 2. ThinkPHP: the transfer (db A in an array here) and the credit worker (db B in Redis).
final class ArrayLedger implements app\service\SourceLedger
{
    public array $balance = ['alice' => 10000];
    public array $transfers = [];

    public function debit(string $transferId, string $from, string $to, int $cents): ?string
    {
        if (isset($this->transfers[$transferId])) {
            return $this->transfers[$transferId]['state'];
        }
        if (($this->balance[$from] ?? 0) < $cents) {
            throw new app\service\InsufficientFunds("account $from has less than $cents cents");
        }
        $this->balance[$from] -= $cents;
        $this->transfers[$transferId] = ['from' => $from, 'cents' => $cents, 'state' => 'pending'];
        return null;
    }

    public function complete(string $transferId): void
    {
        if ($this->transfers[$transferId]['state'] === 'pending') {
            $this->transfers[$transferId]['state'] = 'done';
        }
    }

    public function refund(string $transferId, string $reason): void
    {
        $t = &$this->transfers[$transferId];
        if ($t['state'] === 'pending') {
            $this->balance[$t['from']] += $t['cents'];
            $t['state'] = 'failed';
        }
    }

    public function state(string $transferId): ?string
    {
        return $this->transfers[$transferId]['state'] ?? null;
    }
}

$ledger = new ArrayLedger();
$redis = dq_phpredis();
$store = new app\service\RedisCreditStore($redis, $prefix);
$store->open('bob');
$show = function (array $r) use ($ledger, $store): void {
    printf("%s: %s (%s) alice=%d bob=%d\n", $r['transfer_id'], $r['state'], $r['detail'], $ledger->balance['alice'], $store->balance('bob'));
};
$queue = app\service\TransferService::QUEUE;

// No credit queue yet: the request is unroutable, so never sent: refunded at once.
$quick = new app\service\TransferService($producer, $ledger, 0.4);
$show($quick->transfer('t-0', 'alice', 'bob', 1000));

// The queue, but no worker: no reply to the credit, nor to the cancel: pending, money held.
$producer->declareQueue($queue);
[$r, $took] = dq_timed(fn () => $quick->transfer('t-1', 'alice', 'bob', 1000));
$show($r);
printf("t-1 took %s\n", $took >= 0.8 && $took < 3.0 ? 'two timeouts' : "$took s");

// The worker, in a child process (as `php think credit:worker` would run); SIGTERM stops it.
function credit_worker(string $url, string $queue, string $prefix, int $parent): void
{
    $stop = false;
    pcntl_async_signals(true);
    pcntl_signal(SIGTERM, function () use (&$stop) { $stop = true; });
    $deadline = microtime(true) + 30;
    try {
        (new app\service\CreditHandler(new app\service\RedisCreditStore(dq_phpredis(), $prefix)))->run(
            new Dq\Consumer($queue, ['amqp' => $url]),
            function () use (&$stop, $deadline, $parent): bool {
                return $stop || microtime(true) > $deadline || posix_getppid() !== $parent;
            },
            null,
            0.2,
        );
    } catch (Throwable $e) {
        echo 'credit worker: ', get_class($e), ': ', $e->getMessage(), "\n";
    }
    posix_kill(getmypid(), SIGKILL);   // no destructors or shutdown functions of the parent's objects
}
$parent = getmypid();
$worker = pcntl_fork();
if ($worker === 0) {
    credit_worker($url, $queue, $prefix, $parent);
}
$service = new app\service\TransferService($producer, $ledger, 5.0);

// The worker finds t-1's credit past its deadline: recorded as cancelled, never applied.
$show($service->reconcile('t-1'));
$show($service->transfer('t-2', 'alice', 'bob', 2500));

// The same credit request again (a redelivery, a retry): the recorded outcome, no second credit.
$again = json_decode($producer->call('', $queue, ['op' => 'credit', 'transfer_id' => 't-2', 'to' => 'bob', 'amount_cents' => 2500, 'deadline' => microtime(true) + 5], 5.0), true);
printf("t-2 again: %s duplicate=%s bob=%d\n", $again['status'], var_export($again['duplicate'], true), $store->balance('bob'));
$show($service->transfer('t-2', 'alice', 'bob', 2500));   // the controller retried: nothing debited twice
$show($service->transfer('t-3', 'alice', 'mallory', 500));  // unknown account: rejected, refunded
try {
    $service->transfer('t-4', 'alice', 'bob', 1000000);
} catch (app\service\InsufficientFunds $e) {
    echo "t-4: ", $e->getMessage(), "\n";
}
posix_kill($worker, SIGTERM);
pcntl_waitpid($worker, $status);
$worker = null;

// 3. EasySwoole: the notify ladder, scaled down to 0.1/0.3/0.5 s, against a merchant on php -S
// that fails the first calls of each order (fail_first in the payload) and logs each call.
file_put_contents("$tmp/merchant.php", <<<'PHP'
    <?php
    $raw = file_get_contents('php://input');
    $n = json_decode($raw, true);
    $log = getenv('SINK_LOG');
    $seen = 0;
    foreach (is_file($log) ? file($log) : [] as $line) {
        $seen += (int) str_starts_with($line, "{$n['order_id']} ");
    }
    $ok = hash_equals('sha256=' . hash_hmac('sha256', $raw, 'k'), $_SERVER['HTTP_X_NOTIFY_SIGNATURE'] ?? '');
    $status = !$ok ? 401 : ($seen < (int) ($n['fail_first'] ?? 0) ? 503 : 200);
    file_put_contents($log, sprintf("%s %.3f %s/%s %d\n", $n['order_id'], microtime(true), $_SERVER['HTTP_X_NOTIFY_ATTEMPT'], $n['attempt'], $status), FILE_APPEND | LOCK_EX);
    http_response_code($status);
    echo $status === 200 ? 'success' : 'later';
    PHP);
$port = dq_closed_port();
$sink = proc_open([PHP_BINARY, '-n', '-S', "127.0.0.1:$port", "$tmp/merchant.php"], [['file', '/dev/null', 'r'], ['file', "$tmp/sink.out", 'w'], ['file', "$tmp/sink.out", 'a']], $pipes, null, ['SINK_LOG' => "$tmp/sink.log"]);
for ($i = 0; $i < 100 && !@fsockopen('127.0.0.1', $port); $i++) {
    usleep(20000);
}
$notifier = new App\Notify\PayNotifier($producer, new App\Notify\MerchantClient('k', 2.0), [0.1, 0.3, 0.5], 'pay.notify', 'pay.notify.dead');
$notifier->declare();
$notifier->notify('1001', "http://127.0.0.1:$port/notify", ['amount' => '99.50', 'fail_first' => 3]);   // 4th attempt succeeds
$notifier->notify('1002', "http://127.0.0.1:$port/notify", ['amount' => '5.00', 'fail_first' => 99]);   // never: dead letter
$outcomes = [];
$deadline = microtime(true) + 15;
$notifier->run(new Dq\Consumer('pay.notify', ['amqp' => $url]), function () use (&$outcomes, $deadline) {
    return count(array_filter($outcomes, fn ($o) => $o === 'delivered' || $o === 'dead')) >= 2 || microtime(true) > $deadline;
}, function (string $outcome, Dq\Delivery $d) use (&$outcomes) {
    $outcomes[] = $outcome;
}, 0.2);
proc_terminate($sink);
proc_close($sink);
$sink = null;
$calls = [];
foreach (file("$tmp/sink.log") as $line) {
    [$order, $at, $attempt, $status] = explode(' ', trim($line));
    $calls[$order][] = [(float) $at, $attempt, (int) $status];
}
foreach ($calls as $order => $list) {
    $line = [];
    foreach ($list as $i => [$at, $attempt, $status]) {
        $gap = $i ? $at - $list[$i - 1][0] : 0.0;
        $want = [0, 0.1, 0.3, 0.5][$i] ?? -1;
        $line[] = sprintf('%s %d %s', $attempt, $status, $i === 0 ? 'now' : ($gap >= $want - 0.005 && $gap < $want + 1.0 ? 'after ' . ($want * 1000) . ' ms' : sprintf('after %.3f s', $gap)));
    }
    echo "order $order: ", implode(', ', $line), "\n";
}
$counts = array_count_values($outcomes);
ksort($counts);
echo 'outcomes: ', implode(', ', array_map(fn ($k, $v) => "$k x$v", array_keys($counts), $counts)), "\n";
$dead = (new Dq\Consumer('pay.notify.dead', ['amqp' => $url]))->next(2.0);
$props = $dead->properties();
printf("dead letter: order %s, x-attempts %d, last error %s, message_id %s\n", json_decode($dead->body(), true)['order_id'], $props['headers']['x-attempts'], $props['headers']['x-last-error'], $props['message_id']);
$dead->ack();

// 4. FPM: topology once, then the page as a CLI run with its query string; read the event back.
$cli = $php . ' -d extension=' . escapeshellarg("$root/build/dq.so") . ' -d dq.amqp=' . escapeshellarg($url) . ' ';
echo shell_exec($cli . escapeshellarg("$root/examples/fpm/topology.php"));
echo shell_exec($cli . escapeshellarg("$root/examples/fpm/publish.php") . " 'order=1001&amount=99.50&user=42'");
echo shell_exec('QUERY_STRING=order=x ' . $cli . escapeshellarg("$root/examples/fpm/publish.php"));
$event = (new Dq\Consumer('shop.orders', ['amqp' => $url]))->next(2.0);
$body = json_decode($event->body(), true);
$p = $event->properties();
printf("read back: %s %s order=%d amount=%s user=%d type=%s persistent=%s key=%s\n", $p['message_id'], $p['content_type'], $body['id'], $body['amount'], $body['user'], $p['type'], var_export($p['persistent'], true), $event->routingKey());
$event->ack();
?>
--EXPECTF--
lint: ok (%d files)
t-0: failed (rejected: not sent: message to exchange "" with routing key "bank.credit" is unroutable: %s) alice=10000 bob=0
t-1: pending (credit: no reply to %s within 0.400s %s; cancel: no reply to %s within 0.400s %s) alice=9000 bob=0
t-1 took two timeouts
t-1: failed (cancelled: expired before it was applied (recorded before)) alice=10000 bob=0
t-2: done (credited) alice=7500 bob=2500
t-2 again: credited duplicate=true bob=2500
t-2: done (already settled) alice=7500 bob=2500
t-3: failed (rejected: unknown account mallory) alice=7500 bob=2500
t-4: account alice has less than 1000000 cents
order 1001: 1/1 503 now, 2/2 503 after 100 ms, 3/3 503 after 300 ms, 4/4 200 after 500 ms
order 1002: 1/1 503 now, 2/2 503 after 100 ms, 3/3 503 after 300 ms, 4/4 503 after 500 ms
outcomes: dead x1, delivered x1, retry in 0.1 s x2, retry in 0.3 s x2, retry in 0.5 s x2
dead letter: order 1002, x-attempts 4, last error HTTP 503, message_id notify-1002
declared exchange shop.events (topic), queue shop.orders bound to order.*
{"published":true,"event":"order.created","message_id":"order-1001-created"}
{"error":"order (a positive id) and amount (like 99.50) are required"}
read back: order-1001-created application/json order=1001 amount=99.50 user=42 type=order.created persistent=true key=order.created
