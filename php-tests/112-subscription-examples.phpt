--TEST--
Subscriptions in the examples: the endpoint versions lint; behind their gateway.toml (ladders scaled down), the ThinkPHP credit service's endpoint answers TransferService's Dq\Producer::call (credited, a duplicate, a rejection, a malformed request dead-lettered) and the EasySwoole notify endpoint walks the ladder (delivered on the 4th attempt; a merchant that always fails ends in <prefix>.dead.pay-notify)
--EXTENSIONS--
dq
redis
curl
pcntl
posix
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
require __DIR__ . '/inc/subscription.inc';
$root = dq_root();

// 1. Lint: the endpoints, their routes and what they call (the framework glue cannot run here).
$files = ['thinkphp/app/controller/Credit.php', 'thinkphp/app/service/CreditHandler.php', 'thinkphp/route/app.php',
    'transfer/app/controller/Credit.php', 'transfer/app/service/Credit.php', 'transfer/endpoint.php', 'transfer/route/app.php',
    'easyswoole/App/HttpController/Notify.php', 'easyswoole/App/Notify/MerchantClient.php', 'easyswoole/App/Notify/PayNotifier.php', 'easyswoole/EasySwooleEvent.php'];
$bad = [];
foreach ($files as $file) {
    exec(PHP_BINARY . ' -n -l ' . escapeshellarg("$root/examples/$file") . ' 2>&1', $out, $status);
    if ($status !== 0) {
        $bad[] = implode("\n", $out);
    }
    $out = [];
}
printf("lint: %s (%d files)\n", $bad ? "FAILED\n" . implode("\n", $bad) : 'ok', count($files));

$vhost = new TestVhost('sub-examples');
$prefix = dq_test_prefix('sub-examples');
$dir = sys_get_temp_dir() . "/$prefix";
mkdir($dir);
register_shutdown_function(function () use ($dir, $prefix): void {
    array_map('unlink', glob("$dir/*"));
    @rmdir($dir);
    dq_cleanup_prefix("$prefix-store");
});
// The examples' plain classes, without ThinkPHP or EasySwoole: for this test and its endpoints.
file_put_contents("$dir/autoload.php", <<<'PHP'
    <?php
    spl_autoload_register(function (string $class): void {
        $map = ['app\\' => getenv('EXAMPLES') . '/thinkphp/app/', 'App\\' => getenv('EXAMPLES') . '/easyswoole/App/'];
        foreach ($map as $prefix => $dir) {
            if (str_starts_with($class, $prefix) && is_file($file = $dir . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php')) {
                require $file;
            }
        }
    });
    PHP);
putenv("EXAMPLES=$root/examples");
require "$dir/autoload.php";

/** $file (an example's gateway.toml) with $replace applied; fails when one of them is not found. */
function example_config(string $file, array $replace): string
{
    $toml = file_get_contents($file);
    foreach ($replace as $pattern => $with) {
        $toml = preg_replace($pattern, $with, $toml, -1, $found);
        if ($found !== 1) {
            throw new RuntimeException("$file: $pattern found $found times");
        }
    }
    return $toml;
}

// 2. ThinkPHP: app/controller/Credit.php's answer(), without ThinkPHP (RedisCreditStore for db_b).
file_put_contents("$dir/credit.php", <<<'PHP'
    <?php
    http_response_code(500);   // until answered: a fatal error must not read as 200
    require __DIR__ . '/autoload.php';
    $body = file_get_contents('php://input');
    if (!hash_equals('sha256=' . hash_hmac('sha256', $body, getenv('DQ_CREDIT_SECRET')), $_SERVER['HTTP_X_DQ_SIGNATURE'] ?? '')) {
        http_response_code(401);
        return;
    }
    $redis = new Redis();
    $redis->connect('127.0.0.1', 6379, 2.0);
    $outcome = (new app\service\CreditHandler(new app\service\RedisCreditStore($redis, getenv('STORE_PREFIX'))))->decide($body);
    header('Content-Type: application/json');
    http_response_code($outcome === null ? 410 : 200);
    echo json_encode($outcome ?? ['status' => 'rejected', 'reason' => 'malformed request']);
    PHP);
$credit = new TestEndpoint("$dir/credit.php", ['EXAMPLES' => "$root/examples", 'DQ_CREDIT_SECRET' => 'change-me', 'STORE_PREFIX' => "$prefix-store"], ['igbinary', 'redis']);
$gateway = dq_subscription_gateway($prefix, $vhost->url(), example_config("$root/examples/thinkphp/gateway.toml", [
    '~http://127\.0\.0\.1:8000~' => $credit->url,
]));
var_dump(dq_eventually(fn () => dq_consumed_queues($vhost) === ['bank.credit'], 15));

final class ArrayLedger implements app\service\SourceLedger
{
    public array $balance = ['alice' => 10000];
    public array $transfers = [];

    public function debit(string $transferId, string $from, string $to, int $cents): ?string
    {
        if (isset($this->transfers[$transferId])) {
            return $this->transfers[$transferId]['state'];
        }
        $this->balance[$from] -= $cents;
        $this->transfers[$transferId] = ['from' => $from, 'cents' => $cents, 'state' => 'pending'];
        return null;
    }

    public function complete(string $transferId): void
    {
        $this->transfers[$transferId]['state'] = 'done';
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
$store = new app\service\RedisCreditStore(dq_phpredis(), "$prefix-store");
$store->open('bob');
$producer = new Dq\Producer(['amqp' => $vhost->url()]);
$service = new app\service\TransferService($producer, $ledger, 3.0);
$show = function (array $r) use ($ledger, $store): void {
    printf("%s: %s (%s) alice=%d bob=%d\n", $r['transfer_id'], $r['state'], $r['detail'], $ledger->balance['alice'], $store->balance('bob'));
};
$show($service->transfer('t-1', 'alice', 'bob', 2500));
$again = json_decode($producer->call('', 'bank.credit', ['op' => 'credit', 'transfer_id' => 't-1', 'to' => 'bob', 'amount_cents' => 2500, 'deadline' => microtime(true) + 5], 5.0), true);
printf("t-1 again: %s duplicate=%s bob=%d\n", $again['status'], var_export($again['duplicate'], true), $store->balance('bob'));
$show($service->transfer('t-2', 'alice', 'mallory', 500));
// One outcome per transfer id: a cancel that came first wins over the credit after it.
$ask = fn (array $request) => json_decode($producer->call('', 'bank.credit', $request + ['deadline' => microtime(true) + 5], 5.0), true);
$cancelled = $ask(['op' => 'cancel', 'transfer_id' => 't-3', 'reason' => 'the payer gave up']);
$late = $ask(['op' => 'credit', 'transfer_id' => 't-3', 'to' => 'bob', 'amount_cents' => 100]);
printf("t-3: cancel %s, then credit %s (%s) duplicate=%s bob=%d\n", $cancelled['status'], $late['status'], $late['reason'], var_export($late['duplicate'], true), $store->balance('bob'));
[$e] = dq_timed(fn () => $producer->call('', 'bank.credit', ['op' => 'steal'], 1.0, ['message_id' => 'bad-1']));
dq_show($e);
$letter = (new Dq\Consumer("$prefix.dead.bank-credit", ['amqp' => $vhost->url()]))->next(5.0);
printf("<prefix>.dead.bank-credit: %s, x-dq-last-status %s\n", $letter?->body(), $letter?->properties()['headers']['x-dq-last-status'] ?? '-');
$letter?->ack();
$gateway->stop();
$credit->stop();

// 3. EasySwoole: App/HttpController/Notify.php's pay(), without EasySwoole, in front of a
// merchant on php -S that fails the first calls of each order (fail_first in the payload).
file_put_contents("$dir/notify.php", <<<'PHP'
    <?php
    http_response_code(500);   // until answered: a fatal error must not read as 200
    require __DIR__ . '/autoload.php';
    $body = file_get_contents('php://input');
    if (!hash_equals('sha256=' . hash_hmac('sha256', $body, getenv('DQ_NOTIFY_SECRET')), $_SERVER['HTTP_X_DQ_SIGNATURE'] ?? '')) {
        http_response_code(401);
        return;
    }
    $attempt = max(1, (int) ($_SERVER['HTTP_X_DQ_ATTEMPT'] ?? 1));
    header('Content-Type: application/json');
    try {
        [$delivered, $what] = (new App\Notify\MerchantClient('k', 2.0))->deliver($body, $attempt);
    } catch (UnexpectedValueException $e) {
        http_response_code(410);
        echo json_encode(['msg' => $e->getMessage()]);
        return;
    }
    http_response_code($delivered ? 200 : 502);
    echo json_encode(['attempt' => $attempt, 'merchant' => $what]);
    PHP);
file_put_contents("$dir/merchant.php", <<<'PHP'
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
$merchant = new TestEndpoint("$dir/merchant.php", ['SINK_LOG' => "$dir/sink.log"]);
$notify = new TestEndpoint("$dir/notify.php", ['EXAMPLES' => "$root/examples", 'DQ_NOTIFY_SECRET' => 'change-me', 'PHP_CLI_SERVER_WORKERS' => '2'], ['curl']);
$gateway = dq_subscription_gateway($prefix, $vhost->url(), example_config("$root/examples/easyswoole/gateway.toml", [
    '~http://127\.0\.0\.1:9501~' => $notify->url,
    '~^retry = .*$~m' => 'retry = [0.1, 0.3, 0.5]',
    '~^max_attempts = .*$~m' => 'max_attempts = 4',
]));
var_dump(dq_eventually(fn () => in_array('pay.notify', dq_consumed_queues($vhost), true), 15));
// What Pay::paid does: PayNotifier::notify (a Dq\Producer publish).
$notifier = new App\Notify\PayNotifier($producer, new App\Notify\MerchantClient('k'));
$notifier->notify('1001', "$merchant->url/notify", ['amount' => '99.50', 'fail_first' => 3]);   // the 4th attempt succeeds
$notifier->notify('1002', "$merchant->url/notify", ['amount' => '5.00', 'fail_first' => 99]);   // never: a dead letter
$dead = new Dq\Consumer("$prefix.dead.pay-notify", ['amqp' => $vhost->url()]);
$letter = $dead->next(15.0);
var_dump(dq_eventually(fn () => count(file("$dir/sink.log") ?: []) >= 8, 10));
$calls = [];
foreach (file("$dir/sink.log") as $line) {
    [$order, $at, $attempt, $status] = explode(' ', trim($line));
    $calls[$order][] = [(float) $at, $attempt, (int) $status];
}
ksort($calls);
foreach ($calls as $order => $list) {
    $line = [];
    foreach ($list as $i => [$at, $attempt, $status]) {
        $gap = $i ? $at - $list[$i - 1][0] : 0.0;
        $want = [0, 0.1, 0.3, 0.5][$i] ?? -1;
        $line[] = sprintf('%s %d %s', $attempt, $status, $i === 0 ? 'now' : ($gap >= $want - 0.005 && $gap < $want + 1.0 ? 'after ' . ($want * 1000) . ' ms' : sprintf('after %.3f s', $gap)));
    }
    echo "order $order: ", implode(', ', $line), "\n";
}
$headers = $letter?->properties()['headers'] ?? [];
printf("<prefix>.dead.pay-notify: order %s, message_id %s, x-dq-attempts %s, x-dq-last-status %s\n", json_decode((string) $letter?->body(), true)['order_id'] ?? '-',
    $letter?->properties()['message_id'] ?? '-', $headers['x-dq-attempts'] ?? '-', $headers['x-dq-last-status'] ?? '-');
$letter?->ack();
var_dump(dq_eventually(fn () => (dq_list_queues($vhost)['pay.notify']['messages'] ?? null) === '0', 5));
$gateway->stop();
?>
--EXPECTF--
lint: ok (11 files)
bool(true)
t-1: done (credited) alice=7500 bob=2500
t-1 again: credited duplicate=true bob=2500
t-2: failed (rejected: unknown account mallory) alice=7500 bob=2500
t-3: cancel cancelled, then credit cancelled (the payer gave up) duplicate=true bob=2500
Dq\TimeoutException(5): no reply to %s within 1.000s (exchange "", routing key "bank.credit")
<prefix>.dead.bank-credit: {"op":"steal"}, x-dq-last-status 410
bool(true)
bool(true)
order 1001: 1/1 503 now, 2/2 503 after 100 ms, 3/3 503 after 300 ms, 4/4 200 after 500 ms
order 1002: 1/1 503 now, 2/2 503 after 100 ms, 3/3 503 after 300 ms, 4/4 503 after 500 ms
<prefix>.dead.pay-notify: order 1002, message_id notify-1002, x-dq-attempts 4, x-dq-last-status 502
bool(true)
