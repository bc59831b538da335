--TEST--
Subscriptions survive a gateway killed mid-delivery (SIGKILL): of 200 persistent messages to an endpoint taking 300 ms each, every one is delivered once the gateway started next on the same configuration takes over; the only ones delivered twice are those the killed gateway held unacked (their second delivery says X-Dq-Redelivered: true), at most its prefetch; the queue ends empty
--EXTENSIONS--
dq
posix
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
require __DIR__ . '/inc/subscription.inc';

$vhost = new TestVhost('sub-kill');
$prefix = dq_test_prefix('sub-kill');
$dir = sys_get_temp_dir() . "/$prefix";
mkdir($dir);
register_shutdown_function(function () use ($dir): void {
    array_map('unlink', glob("$dir/*"));
    @rmdir($dir);
});

// The endpoint takes 300 ms per message, then logs "<message id> <started at> <redelivered>"
// and answers 200 (it goes on when the gateway is gone: its log has every message it took).
file_put_contents("$dir/endpoint.php", <<<'PHP'
    <?php
    $started = microtime(true);
    usleep(300000);
    $line = sprintf("%s %.6F %s\n", $_SERVER['HTTP_X_DQ_MESSAGE_ID'] ?? '?', $started, $_SERVER['HTTP_X_DQ_REDELIVERED'] ?? '?');
    file_put_contents(getenv('DIR') . '/taken.log', $line, FILE_APPEND | LOCK_EX);
    echo 'ok';
    PHP);
touch("$dir/taken.log");
$endpoint = new TestEndpoint("$dir/endpoint.php", ['DIR' => $dir, 'PHP_CLI_SERVER_WORKERS' => '8']);
$config = <<<TOML
    [[subscription]]
    name = "slow"
    queue = "slow.q"
    callback = "{$endpoint->url}/slow"
    timeout_ms = 10000
    retry = [0.2]
    concurrency = 8
    prefetch = 16
    TOML;
$first = dq_subscription_gateway($prefix, $vhost->url(), $config);
$first->keepKeys();
var_dump(dq_eventually(fn () => dq_consumed_queues($vhost) === ['slow.q'], 15));

$producer = new Dq\Producer(['amqp' => $vhost->url()]);
$ids = array_map(fn ($n) => "m-$n", range(1, 200));
$messages = array_map(fn ($id) => ['routing_key' => 'slow.q', 'body' => "body of $id", 'properties' => ['message_id' => $id, 'persistent' => true]], $ids);
echo 'published: ', $producer->publishBatch('', $messages), "\n";

/** The endpoint's log: [[id, started at, redelivered], ...] in the order taken. */
function taken(string $dir): array
{
    return array_map(fn ($line) => explode(' ', $line), file("$dir/taken.log", FILE_IGNORE_NEW_LINES) ?: []);
}
// Killed once some are done, with deliveries under way.
$some = dq_eventually(fn () => count(taken($dir)) >= 40, 20);
var_dump($some);
if (!$some) {
    echo $first->log(), $endpoint->output(), json_encode(dq_list_queues($vhost, ['messages', 'messages_unacknowledged'])), "\n";
}
[, $health] = $first->request('GET', '/healthz');
$inFlight = $health['subscriptions']['slow']['in_flight'] ?? -1;
$first->kill();
echo 'in flight at the kill: ', $inFlight >= 1 && $inFlight <= 8 ? '1 to 8' : $inFlight, "\n";
echo 'delivered before the kill: ', count(taken($dir)) < 200 ? 'some, not all' : 'all (the kill came too late)', "\n";

$second = dq_subscription_gateway($prefix, $vhost->url(), $config);
var_dump(dq_eventually(fn () => count(array_unique(array_column(taken($dir), 0))) === 200, 30));
var_dump(dq_eventually(fn () => (dq_list_queues($vhost, ['messages', 'messages_unacknowledged'])['slow.q'] ?? null) === ['messages' => '0', 'messages_unacknowledged' => '0'], 10));

$taken = taken($dir);
$times = array_count_values(array_column($taken, 0));
echo 'missing: ', count(array_diff($ids, array_keys($times))), "\n";
echo 'unknown ids: ', count(array_diff(array_keys($times), $ids)), "\n";
$twice = array_keys(array_filter($times, fn ($n) => $n > 1));
echo 'delivered more than twice: ', count(array_filter($times, fn ($n) => $n > 2)), "\n";
echo 'delivered twice: ', count($twice) <= 16 ? 'at most the prefetch (16)' : count($twice), "\n";
// The first gateway's calls all say redelivered false (nobody had the messages before); the
// second's say true for the messages the broker had handed the first and took back at the kill.
$redelivered = array_column(array_filter($taken, fn ($t) => $t[2] === 'true'), 0);
echo 'calls that said redelivered: ', count($redelivered) >= 1 && count($redelivered) <= 16 ? '1 to the prefetch (16)' : count($redelivered), "\n";
echo 'redelivered more than once: ', count(array_filter(array_count_values($redelivered), fn ($n) => $n > 1)), "\n";
echo 'delivered twice but never redelivered by the broker: ', json_encode(array_values(array_diff($twice, $redelivered))), "\n";
echo str_replace($prefix, '<prefix>', json_encode(dq_list_queues($vhost))), "\n";
if (count($times) !== 200 || count($twice) > 16 || array_diff($twice, $redelivered) || count($redelivered) > 16) {
    echo "the endpoint's log (id, started at, redelivered):\n", file_get_contents("$dir/taken.log"), $first->log(), $second->log();
}
$second->stop();
$endpoint->stop();
?>
--EXPECT--
bool(true)
published: 200
bool(true)
in flight at the kill: 1 to 8
delivered before the kill: some, not all
bool(true)
bool(true)
missing: 0
unknown ids: 0
delivered more than twice: 0
delivered twice: at most the prefetch (16)
calls that said redelivered: 1 to the prefetch (16)
redelivered more than once: 0
delivered twice but never redelivered by the broker: []
{"<prefix>.dead.slow":{"messages":"0"},"slow.q":{"messages":"0"}}
