--TEST--
Subscriptions: a poison message (500 for ever) holds only its own subscription: while A (concurrency 1) retries it in place, B delivers all its messages; A's later messages follow once the poison is dead-lettered after 3 attempts; GET .../dead lists it (attempts 3, last_status 500), and once the endpoint accepts it, POST .../dead/{id}/requeue delivers it (attempt 1 again) and empties the list
--EXTENSIONS--
dq
posix
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
require __DIR__ . '/inc/subscription.inc';

$vhost = new TestVhost('sub-poison');
$prefix = dq_test_prefix('sub-poison');
$dir = sys_get_temp_dir() . "/$prefix";
mkdir($dir);
register_shutdown_function(function () use ($dir): void {
    array_map('unlink', glob("$dir/*"));
    @rmdir($dir);
});

// The endpoint of both subscriptions logs each request ("<subscription> <body> <attempt>
// <status>"). "poison" gets a 500 until the file "accept" exists; its first attempt answers
// only once B's 20 messages are in (at most 15 s), so B is seen delivering while A is held.
file_put_contents("$dir/endpoint.php", <<<'PHP'
    <?php
    $dir = getenv('DIR');
    $body = file_get_contents('php://input');
    $subscription = $_SERVER['HTTP_X_DQ_SUBSCRIPTION'] ?? '?';
    $attempt = (int) ($_SERVER['HTTP_X_DQ_ATTEMPT'] ?? 0);
    $status = 200;
    if ($body === 'poison' && !file_exists("$dir/accept")) {
        $status = 500;
        if ($attempt === 1) {
            $deadline = microtime(true) + 15;
            while (count(file("$dir/B.log") ?: []) < 20 && microtime(true) < $deadline) {
                usleep(20000);
            }
            file_put_contents("$dir/b-while-held", (string) count(file("$dir/B.log") ?: []));
        }
    }
    if ($status === 200) {
        file_put_contents("$dir/$subscription.log", "$body\n", FILE_APPEND | LOCK_EX);
    }
    file_put_contents("$dir/calls.log", "$subscription $body $attempt $status\n", FILE_APPEND | LOCK_EX);
    http_response_code($status);
    echo $status === 200 ? 'ok' : 'poisoned';
    PHP);
touch("$dir/B.log");
touch("$dir/A.log");
touch("$dir/calls.log");
$endpoint = new TestEndpoint("$dir/endpoint.php", ['DIR' => $dir, 'PHP_CLI_SERVER_WORKERS' => '4']);
$gateway = dq_subscription_gateway($prefix, $vhost->url(), <<<TOML
    [[subscription]]
    name = "A"
    queue = "poison.a"
    callback = "{$endpoint->url}/a"
    timeout_ms = 20000
    retry = [0.2, 0.2]
    max_attempts = 3
    concurrency = 1

    [[subscription]]
    name = "B"
    queue = "poison.b"
    callback = "{$endpoint->url}/b"
    retry = [0.2]
    concurrency = 2
    TOML);
var_dump(dq_eventually(function () use ($vhost): bool {
    $queues = dq_consumed_queues($vhost);
    sort($queues);
    return $queues === ['poison.a', 'poison.b'];
}, 15));

$producer = new Dq\Producer(['amqp' => $vhost->url()]);
foreach (['a-1', 'a-2', 'poison', 'a-3', 'a-4', 'a-5'] as $body) {
    $producer->publish('', 'poison.a', $body, ['message_id' => "id-$body"]);
}
$calls = fn () => file("$dir/calls.log", FILE_IGNORE_NEW_LINES) ?: [];
// B's messages go out once A is held by the poison's first attempt.
var_dump(dq_eventually(fn () => count(file("$dir/A.log") ?: []) === 2, 10));
foreach (range(1, 20) as $n) {
    $producer->publish('', 'poison.b', "b-$n");
}

echo "-- B delivers while A is held\n";
var_dump(dq_eventually(fn () => file_exists("$dir/b-while-held"), 20));
echo "B's messages in when the poison's first attempt answered: ", file_get_contents("$dir/b-while-held"), "\n";
var_dump(dq_eventually(fn () => count(file("$dir/A.log") ?: []) === 5, 15));
echo 'A delivered: ', implode(' ', file("$dir/A.log", FILE_IGNORE_NEW_LINES)), "\n";
echo 'B delivered: ', count(array_unique(file("$dir/B.log", FILE_IGNORE_NEW_LINES))), " distinct of 20\n";
echo "A's calls in order:\n";
foreach ($calls() as $line) {
    if (str_starts_with($line, 'A ')) {
        echo "  $line\n";
    }
}

echo "-- the dead letter\n";
[$status, $dead] = $gateway->request('GET', '/v1/subscriptions/A/dead');
echo "GET /v1/subscriptions/A/dead: $status, total {$dead['total']}, queue ", str_replace($prefix, '<prefix>', $dead['queue']), "\n";
$letter = $dead['dead'][0];
printf("body %s, attempts %d, last_status %d, last_error %s, message_id %s, id %s, died_at %s\n",
    $letter['body'], $letter['attempts'], $letter['last_status'], $letter['last_error'], $letter['properties']['message_id'] ?? '-',
    $letter['id'] !== '' ? 'set' : 'empty', is_numeric($letter['died_at']) && $letter['died_at'] > time() - 60 ? 'recent' : var_export($letter['died_at'], true));
[$status, $dead] = $gateway->request('GET', '/v1/subscriptions/B/dead');
echo "B's dead letters: $status, total {$dead['total']}\n";

echo "-- the endpoint accepts it now: requeued, delivered\n";
touch("$dir/accept");
[$status, $body] = $gateway->request('POST', "/v1/subscriptions/A/dead/{$letter['id']}/requeue");
echo "POST .../dead/{id}/requeue: $status ", json_encode(['requeued' => $body['requeued'] ?? null, 'same id' => ($body['id'] ?? null) === $letter['id']]), "\n";
var_dump(dq_eventually(fn () => in_array('poison', file("$dir/A.log", FILE_IGNORE_NEW_LINES) ?: [], true), 10));
echo 'the call that took it: ', (array_values(array_filter($calls(), fn ($l) => str_starts_with($l, 'A poison') && str_ends_with($l, ' 200')))[0] ?? 'none'), "\n";
var_dump(dq_eventually(function () use ($gateway): bool {
    [, $dead] = $gateway->request('GET', '/v1/subscriptions/A/dead');
    return $dead['total'] === 0 && $dead['dead'] === [];
}, 10));
[$status, $body] = $gateway->request('POST', "/v1/subscriptions/A/dead/{$letter['id']}/requeue");
echo "requeued again: $status {$body['error']['code']}\n";

var_dump(dq_eventually(fn () => array_column(array_intersect_key(dq_list_queues($vhost, ['messages', 'messages_unacknowledged']), ['poison.a' => 1, 'poison.b' => 1, "$prefix.dead.A" => 1]), 'messages_unacknowledged') === ['0', '0', '0'], 10));
$metrics = (string) file_get_contents("{$gateway->url}/metrics");
foreach (['A', 'B'] as $name) {
    $counts = [];
    foreach (['delivered', 'failed', 'dead'] as $counter) {
        $counts[] = $counter . ' ' . (preg_match('/^dq_subscription_' . $counter . '_total\{subscription="' . $name . '"\} (\d+)/m', $metrics, $m) ? $m[1] : 0);
    }
    echo "$name: ", implode(', ', $counts), "\n";
}
echo str_replace($prefix, '<prefix>', json_encode(dq_list_queues($vhost))), "\n";
$gateway->stop();
$endpoint->stop();
?>
--EXPECT--
bool(true)
bool(true)
-- B delivers while A is held
bool(true)
B's messages in when the poison's first attempt answered: 20
bool(true)
A delivered: a-1 a-2 a-3 a-4 a-5
B delivered: 20 distinct of 20
A's calls in order:
  A a-1 1 200
  A a-2 1 200
  A poison 1 500
  A poison 2 500
  A poison 3 500
  A a-3 1 200
  A a-4 1 200
  A a-5 1 200
-- the dead letter
GET /v1/subscriptions/A/dead: 200, total 1, queue <prefix>.dead.A
body poison, attempts 3, last_status 500, last_error HTTP 500, message_id id-poison, id set, died_at recent
B's dead letters: 200, total 0
-- the endpoint accepts it now: requeued, delivered
POST .../dead/{id}/requeue: 200 {"requeued":true,"same id":true}
bool(true)
the call that took it: A poison 1 200
bool(true)
requeued again: 404 NOT_FOUND
bool(true)
A: delivered 6, failed 2, dead 1
B: delivered 20, failed 0, dead 0
{"<prefix>.dead.A":{"messages":"0"},"<prefix>.dead.B":{"messages":"0"},"poison.a":{"messages":"0"},"poison.b":{"messages":"0"}}
