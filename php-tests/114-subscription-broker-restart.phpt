--TEST--
Subscriptions across a RabbitMQ restart (a private node): the node stops while deliveries go on; /healthz shows the subscription failing with the error and the gateway keeps running; the node starts again and more is published: every message (durable queue, persistent messages) is delivered, the gateway having reconnected by itself, copies only of those in flight at the stop
--EXTENSIONS--
dq
posix
--SKIPIF--
<?php
if (!is_executable('/usr/sbin/rabbitmq-server') || !is_executable('/usr/sbin/rabbitmqctl')) die('skip rabbitmq-server not installed');
if (function_exists('posix_geteuid') && posix_geteuid() !== 0) die('skip needs root to start a private RabbitMQ node (the Debian wrappers su to rabbitmq)');
?>
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
require __DIR__ . '/inc/subscription.inc';

$rabbit = new TestRabbit();
$prefix = dq_test_prefix('sub-broker');
$dir = sys_get_temp_dir() . "/$prefix";
mkdir($dir);
register_shutdown_function(function () use ($dir): void {
    array_map('unlink', glob("$dir/*"));
    @rmdir($dir);
});

// The endpoint takes 50 ms per message and logs its id.
file_put_contents("$dir/endpoint.php", <<<'PHP'
    <?php
    usleep(50000);
    file_put_contents(getenv('DIR') . '/taken.log', ($_SERVER['HTTP_X_DQ_MESSAGE_ID'] ?? '?') . "\n", FILE_APPEND | LOCK_EX);
    echo 'ok';
    PHP);
touch("$dir/taken.log");
$endpoint = new TestEndpoint("$dir/endpoint.php", ['DIR' => $dir, 'PHP_CLI_SERVER_WORKERS' => '2']);
$gateway = dq_subscription_gateway($prefix, $rabbit->url(), <<<TOML
    [[subscription]]
    name = "restart"
    queue = "restart.q"
    callback = "{$endpoint->url}/restart"
    timeout_ms = 5000
    retry = [0.2]
    concurrency = 2
    TOML);
$taken = fn () => file("$dir/taken.log", FILE_IGNORE_NEW_LINES) ?: [];
$queue = function () use ($rabbit): ?array {
    $out = $rabbit->ctl(['list_queues', '--no-table-headers', 'name', 'durable', 'messages', 'messages_unacknowledged'], false, $status);
    return $status === 0 && preg_match('/^restart\.q\t(\S+)\t(\d+)\t(\d+)$/m', $out, $m) ? ['durable' => $m[1], 'messages' => (int) $m[2], 'unacked' => (int) $m[3]] : null;
};
$health = function () use ($gateway): array {
    [$status, $body] = $gateway->request('GET', '/healthz');
    return [$status, $body['subscriptions']['restart'] ?? null];
};
var_dump(dq_eventually(fn () => ($health()[1]['status'] ?? '') === 'consuming' && $queue() !== null, 15));

/** Publishes "m-<from>".."m-<to>", persistent, to the node. */
function publish(TestRabbit $rabbit, int $from, int $to): int
{
    $producer = new Dq\Producer(['amqp' => $rabbit->url()]);
    $messages = array_map(fn ($n) => ['routing_key' => 'restart.q', 'body' => "body $n", 'properties' => ['message_id' => "m-$n", 'persistent' => true]], range($from, $to));
    return $producer->publishBatch('', $messages);
}
echo 'published: ', publish($rabbit, 1, 100), "\n";
echo 'restart.q is durable: ', $queue()['durable'], "\n";

echo "-- the node stops while deliveries go on\n";
var_dump(dq_eventually(fn () => count($taken()) >= 20, 15));
$rabbit->stop();
echo 'delivered before the stop: ', count(array_unique($taken())) < 100 ? 'some, not all' : 'all (the stop came too late)', "\n";
$failing = dq_eventually(fn () => ($health()[1]['status'] ?? '') === 'failing', 20);
[$status, $sub] = $health();
echo "/healthz: HTTP $status, the subscription ", $sub['status'] ?? 'missing', ', with an error: ', var_export(is_string($sub['error'] ?? null) && $sub['error'] !== '', true), "\n";
if (!$failing) {
    echo "healthz: ", json_encode($gateway->request('GET', '/healthz')[1]), "\n", $gateway->log();
}

echo "-- the node is back; more is published\n";
$rabbit->start();
$kept = $queue();
echo 'messages kept by the node: ', ($kept['messages'] ?? 0) + ($kept['unacked'] ?? 0) + count(array_unique($taken())) >= 100 ? 'all not yet delivered' : 'SOME LOST', "\n";
echo 'published: ', publish($rabbit, 101, 150), "\n";
$all = dq_eventually(fn () => count(array_unique($taken())) === 150, 30);
var_dump($all);
var_dump(dq_eventually(fn () => $queue() === ['durable' => 'true', 'messages' => 0, 'unacked' => 0], 10));
$consuming = dq_eventually(fn () => ($health()[1]['status'] ?? '') === 'consuming', 10);
[$status, $sub] = $health();
echo "/healthz: HTTP $status, the subscription {$sub['status']}, error: ", json_encode($sub['error'] ?? null), "\n";
if (!$all || !$consuming) {
    echo json_encode($queue()), "\n", $gateway->log();
}

$times = array_count_values($taken());
echo 'missing: ', count(array_diff(array_map(fn ($n) => "m-$n", range(1, 150)), array_keys($times))), "\n";
echo 'delivered twice: ', count(array_filter($times, fn ($n) => $n > 1)) <= 2 ? 'at most the concurrency (2)' : json_encode(array_filter($times, fn ($n) => $n > 1)), "\n";
echo 'subscription consumers on the node: ', trim($rabbit->ctl(['list_consumers', '--no-table-headers', 'queue_name'])), "\n";
$gateway->stop();
$endpoint->stop();
?>
--EXPECT--
bool(true)
published: 100
restart.q is durable: true
-- the node stops while deliveries go on
bool(true)
delivered before the stop: some, not all
/healthz: HTTP 503, the subscription failing, with an error: true
-- the node is back; more is published
messages kept by the node: all not yet delivered
published: 50
bool(true)
bool(true)
/healthz: HTTP 200, the subscription consuming, error: null
missing: 0
delivered twice: at most the concurrency (2)
subscription consumers on the node: restart.q
