--TEST--
Subscriptions with concurrency = 1 keep order across failures: the endpoint answers 500 to the first attempt of every 5th message; each is retried in place (ladder [0.1]) before the next one is sent, so the endpoint takes 1..50 exactly in order
--EXTENSIONS--
dq
posix
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
require __DIR__ . '/inc/subscription.inc';

$vhost = new TestVhost('sub-order');
$prefix = dq_test_prefix('sub-order');
$dir = sys_get_temp_dir() . "/$prefix";
mkdir($dir);
register_shutdown_function(function () use ($dir): void {
    array_map('unlink', glob("$dir/*"));
    @rmdir($dir);
});

// The endpoint: every request goes to calls.log ("<n> <attempt>"); the first attempt of every
// 5th message gets a 500, the others a 200 and a line in taken.log.
file_put_contents("$dir/endpoint.php", <<<'PHP'
    <?php
    $n = (int) file_get_contents('php://input');
    $attempt = (int) ($_SERVER['HTTP_X_DQ_ATTEMPT'] ?? 0);
    file_put_contents(getenv('DIR') . '/calls.log', "$n $attempt\n", FILE_APPEND | LOCK_EX);
    if ($n % 5 === 0 && $attempt === 1) {
        http_response_code(500);
        echo 'not yet';
        return;
    }
    file_put_contents(getenv('DIR') . '/taken.log', "$n\n", FILE_APPEND | LOCK_EX);
    echo 'ok';
    PHP);
// Two workers: were the gateway to send the next message before the retry, the endpoint would take it.
touch("$dir/calls.log");
touch("$dir/taken.log");
$endpoint = new TestEndpoint("$dir/endpoint.php", ['DIR' => $dir, 'PHP_CLI_SERVER_WORKERS' => '2']);
$gateway = dq_subscription_gateway($prefix, $vhost->url(), <<<TOML
    [[subscription]]
    name = "ordered"
    queue = "ordered.q"
    callback = "{$endpoint->url}/ordered"
    timeout_ms = 5000
    retry = [0.1]
    concurrency = 1
    TOML);
var_dump(dq_eventually(fn () => dq_consumed_queues($vhost) === ['ordered.q'], 15));

$producer = new Dq\Producer(['amqp' => $vhost->url()]);
$messages = array_map(fn ($n) => ['routing_key' => 'ordered.q', 'body' => (string) $n, 'properties' => ['message_id' => "m-$n"]], range(1, 50));
echo 'published: ', $producer->publishBatch('', $messages), "\n";

$lines = fn (string $file) => file("$dir/$file", FILE_IGNORE_NEW_LINES) ?: [];
var_dump(dq_eventually(fn () => count($lines('taken.log')) >= 50, 20));
$taken = array_map('intval', $lines('taken.log'));
echo 'taken in order 1..50: ', var_export($taken === range(1, 50), true), "\n";
if ($taken !== range(1, 50)) {
    echo 'taken: ', implode(' ', $taken), "\n";
}
// Each 5th message's retry comes right after its failed attempt, before the next message.
$expected = [];
foreach (range(1, 50) as $n) {
    $expected[] = "$n 1";
    if ($n % 5 === 0) {
        $expected[] = "$n 2";
    }
}
$calls = $lines('calls.log');
echo 'calls (message attempt) as expected: ', var_export($calls === $expected, true), "\n";
if ($calls !== $expected) {
    echo 'calls: ', implode(', ', $calls), "\n";
}
var_dump(dq_eventually(fn () => (dq_list_queues($vhost, ['messages', 'messages_unacknowledged'])['ordered.q'] ?? null) === ['messages' => '0', 'messages_unacknowledged' => '0'], 10));
$metrics = (string) file_get_contents("{$gateway->url}/metrics");
foreach (['delivered', 'failed', 'dead'] as $counter) {
    preg_match('/^dq_subscription_' . $counter . '_total\{subscription="ordered"\} (\d+)/m', $metrics, $m);
    echo "dq_subscription_{$counter}_total: ", $m[1] ?? 'absent', "\n";
}
echo str_replace($prefix, '<prefix>', json_encode(dq_list_queues($vhost))), "\n";
$gateway->stop();
$endpoint->stop();
?>
--EXPECT--
bool(true)
published: 50
bool(true)
taken in order 1..50: true
calls (message attempt) as expected: true
bool(true)
dq_subscription_delivered_total: 50
dq_subscription_failed_total: 10
dq_subscription_dead_total: absent
{"<prefix>.dead.ordered":{"messages":"0"},"ordered.q":{"messages":"0"}}
