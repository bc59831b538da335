--TEST--
Subscriptions on two gateways (same configuration, prefix and vhost) are competing consumers: of 500 messages to a healthy endpoint each is delivered exactly once, and both gateways delivered some (prefetch 5), their dq_subscription_delivered_total adding up to 500
--EXTENSIONS--
dq
posix
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
require __DIR__ . '/inc/subscription.inc';

$vhost = new TestVhost('sub-two');
$prefix = dq_test_prefix('sub-two');
$dir = sys_get_temp_dir() . "/$prefix";
mkdir($dir);
register_shutdown_function(function () use ($dir): void {
    array_map('unlink', glob("$dir/*"));
    @rmdir($dir);
});

// The endpoint takes 5 ms per message and logs its id.
file_put_contents("$dir/endpoint.php", <<<'PHP'
    <?php
    usleep(5000);
    file_put_contents(getenv('DIR') . '/taken.log', ($_SERVER['HTTP_X_DQ_MESSAGE_ID'] ?? '?') . "\n", FILE_APPEND | LOCK_EX);
    echo 'ok';
    PHP);
touch("$dir/taken.log");
$endpoint = new TestEndpoint("$dir/endpoint.php", ['DIR' => $dir, 'PHP_CLI_SERVER_WORKERS' => '4']);
$config = <<<TOML
    [[subscription]]
    name = "shared"
    queue = "shared.q"
    callback = "{$endpoint->url}/shared"
    timeout_ms = 5000
    retry = [0.2]
    concurrency = 2
    prefetch = 5
    TOML;
$one = dq_subscription_gateway($prefix, $vhost->url(), $config);
$two = dq_subscription_gateway($prefix, $vhost->url(), $config);
$two->keepKeys();
$consumers = fn () => count(array_filter(explode("\n", dq_rabbitmqctl(['list_consumers', '-p', $vhost->name, '--no-table-headers', 'queue_name'])), fn ($q) => trim($q) === 'shared.q'));
var_dump(dq_eventually(fn () => $consumers() === 2, 15));

$producer = new Dq\Producer(['amqp' => $vhost->url()]);
$ids = array_map(fn ($n) => "m-$n", range(1, 500));
$messages = array_map(fn ($id) => ['routing_key' => 'shared.q', 'body' => "body of $id", 'properties' => ['message_id' => $id]], $ids);
echo 'published: ', $producer->publishBatch('', $messages), "\n";

$taken = fn () => file("$dir/taken.log", FILE_IGNORE_NEW_LINES) ?: [];
var_dump(dq_eventually(fn () => count($taken()) >= 500, 30));
var_dump(dq_eventually(fn () => (dq_list_queues($vhost, ['messages', 'messages_unacknowledged'])['shared.q'] ?? null) === ['messages' => '0', 'messages_unacknowledged' => '0'], 10));
$times = array_count_values($taken());
echo 'missing: ', count(array_diff($ids, array_keys($times))), "\n";
echo 'delivered more than once: ', count(array_filter($times, fn ($n) => $n > 1)), "\n";
echo 'deliveries: ', count($taken()), "\n";

$delivered = [];
foreach (['one' => $one, 'two' => $two] as $name => $gateway) {
    $metrics = (string) file_get_contents("{$gateway->url}/metrics");
    $delivered[$name] = preg_match('/^dq_subscription_delivered_total\{subscription="shared"\} (\d+)/m', $metrics, $m) ? (int) $m[1] : 0;
    echo "gateway $name delivered some: ", var_export($delivered[$name] > 0, true), "\n";
}
echo 'the two add up to: ', array_sum($delivered), "\n";
echo str_replace($prefix, '<prefix>', json_encode(dq_list_queues($vhost))), "\n";
$two->stop();
$one->stop();
$endpoint->stop();
?>
--EXPECT--
bool(true)
published: 500
bool(true)
bool(true)
missing: 0
delivered more than once: 0
deliveries: 500
gateway one delivered some: true
gateway two delivered some: true
the two add up to: 500
{"<prefix>.dead.shared":{"messages":"0"},"shared.q":{"messages":"0"}}
