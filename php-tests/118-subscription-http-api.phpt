--TEST--
Subscriptions over the HTTP API end to end, on a gateway started without [[subscription]]: PUT starts a consumer (signed deliveries), PATCH paused leaves new messages in the queue and active delivers them, GET shows secret_set and never the secret, bad definitions get 422 naming the field, DELETE stops the consumer (then 404); a 5 MiB binary body arrives byte-exact with its content_type, and a binary message answered 410 is listed dead with body_base64
--EXTENSIONS--
dq
posix
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
require __DIR__ . '/inc/subscription.inc';

$vhost = new TestVhost('sub-api');
$prefix = dq_test_prefix('sub-api');
$dir = sys_get_temp_dir() . "/$prefix";
mkdir($dir);
register_shutdown_function(function () use ($dir): void {
    array_map('unlink', glob("$dir/*"));
    @rmdir($dir);
});

// The endpoint. /api logs "<body> <signed>"; /bin keeps each body as bin-<n> with its
// content type, and answers 410 to a message with the header "verdict: gone".
file_put_contents("$dir/endpoint.php", <<<'PHP'
    <?php
    $dir = getenv('DIR');
    $body = file_get_contents('php://input');
    if (str_starts_with($_SERVER['REQUEST_URI'], '/api')) {
        $signed = hash_equals('sha256=' . hash_hmac('sha256', $body, 'api-secret'), $_SERVER['HTTP_X_DQ_SIGNATURE'] ?? '');
        file_put_contents("$dir/api.log", "$body " . ($signed ? 'signed' : 'NOT SIGNED') . "\n", FILE_APPEND | LOCK_EX);
    } else {
        $n = count(glob("$dir/bin-*.type"));
        file_put_contents("$dir/bin-$n", $body);
        file_put_contents("$dir/bin-$n.type", $_SERVER['CONTENT_TYPE'] ?? '');
        if (($_SERVER['HTTP_X_DQ_HEADER_VERDICT'] ?? '') === 'gone') {
            http_response_code(410);
        }
    }
    echo 'ok';
    PHP);
touch("$dir/api.log");
$endpoint = new TestEndpoint("$dir/endpoint.php", ['DIR' => $dir, 'PHP_CLI_SERVER_WORKERS' => '2']);
$gateway = new TestGateway($prefix, ['DQ_AMQP' => $vhost->url()], [], true);
$producer = new Dq\Producer(['amqp' => $vhost->url()]);
/** The queues of the vhost that have a consumer, sorted. */
function consumed(TestVhost $vhost): array
{
    $queues = dq_consumed_queues($vhost);
    sort($queues);
    return $queues;
}
$api = fn () => file("$dir/api.log", FILE_IGNORE_NEW_LINES) ?: [];
$depth = fn (string $queue) => dq_list_queues($vhost, ['messages', 'messages_unacknowledged'])[$queue] ?? null;
/** Prints the request and its answer's status (and error code and message, if any). */
function call(TestGateway $gateway, string $method, string $path, $body = null, ?string $shownPath = null): array
{
    [$status, $answer] = $gateway->request($method, $path, $body);
    echo "$method ", $shownPath ?? $path, ": $status", isset($answer['error']) ? " {$answer['error']['code']}" : '', "\n";
    return [$status, $answer];
}

echo "-- PUT: consumed and delivered\n";
[, $health] = $gateway->request('GET', '/healthz');
echo 'subscriptions in /healthz at start: ', json_encode($health['subscriptions'] ?? 'none'), "\n";
[, $shown] = call($gateway, 'PUT', '/v1/subscriptions/api', ['queue' => 'api.q', 'callback' => "{$endpoint->url}/api", 'retry' => [0.2], 'concurrency' => 2, 'secret' => 'api-secret']);
echo 'shown: secret_set ', var_export($shown['secret_set'] ?? null, true), ', secret ', array_key_exists('secret', $shown) ? 'SHOWN' : 'absent', ', max_attempts ', $shown['max_attempts'], "\n";
var_dump(dq_eventually(fn () => consumed($vhost) === ['api.q'], 15));
foreach (['one', 'two', 'three'] as $body) {
    $producer->publish('', 'api.q', $body);
}
var_dump(dq_eventually(fn () => count($api()) === 3, 10));
$lines = $api();
sort($lines);
echo implode(', ', $lines), "\n";

echo "-- PATCH paused: new messages stay in the queue\n";
call($gateway, 'PATCH', '/v1/subscriptions/api', ['status' => 'paused']);
var_dump(dq_eventually(fn () => consumed($vhost) === [], 10));
[, $health] = $gateway->request('GET', '/healthz');
echo 'healthz: ', $health['subscriptions']['api']['status'], "\n";
foreach (['four', 'five'] as $body) {
    $producer->publish('', 'api.q', $body);
}
usleep(1500000);
echo 'delivered while paused: ', count($api()) - 3, "; api.q: ", json_encode($depth('api.q')), "\n";

echo "-- PATCH active: delivered\n";
call($gateway, 'PATCH', '/v1/subscriptions/api', ['status' => 'active']);
var_dump(dq_eventually(fn () => count($api()) === 5, 10));
$lines = array_slice($api(), 3); // concurrency 2: in either order
sort($lines);
echo implode(', ', $lines), "\n";
var_dump(dq_eventually(fn () => $depth('api.q') === ['messages' => '0', 'messages_unacknowledged' => '0'], 10));

echo "-- GET\n";
[, $shown] = call($gateway, 'GET', '/v1/subscriptions/api');
$shown = array_intersect_key($shown, array_flip(['name', 'queue', 'status', 'secret_set', 'secret', 'concurrency', 'retry']));
ksort($shown);
echo json_encode($shown), "\n";
[, $list] = call($gateway, 'GET', '/v1/subscriptions');
echo 'listed: ', implode(', ', array_column($list['subscriptions'], 'name')), '; a secret in the list: ', var_export(str_contains(json_encode($list), 'api-secret'), true), "\n";

echo "-- bad definitions: 422, the field named\n";
$good = ['queue' => 'bad.q', 'callback' => "{$endpoint->url}/api"];
// [what is wrong, the field the message names, the definition]
$bad = [
    ['an unknown field', 'prefech', ['prefech' => 3] + $good],
    ['no queue', 'queue', ['callback' => "{$endpoint->url}/api"]],
    ['callback ftp://x', 'callback', ['callback' => 'ftp://x'] + $good],
    ['concurrency 0', 'concurrency', ['concurrency' => 0] + $good],
    ['concurrency 100000', 'concurrency', ['concurrency' => 100000] + $good],
    ['prefetch 4 < concurrency 8', 'prefetch', ['concurrency' => 8, 'prefetch' => 4] + $good],
    ['status disabled', 'status', ['status' => 'disabled'] + $good],
];
foreach ($bad as [$what, $field, $definition]) {
    [$status, $answer] = $gateway->request('PUT', '/v1/subscriptions/bad', $definition);
    $message = $answer['error']['message'] ?? '';
    printf("%-27s %d %s, names %s: %s\n", $what, $status, $answer['error']['code'] ?? '-', $field, var_export(str_contains($message, $field), true));
    if (!str_contains($message, $field)) {
        echo "  message: $message\n";
    }
}
[$status, $answer] = $gateway->request('PATCH', '/v1/subscriptions/api', ['concurrency' => 0]);
echo "PATCH concurrency 0: $status {$answer['error']['code']}; still ", $gateway->request('GET', '/v1/subscriptions/api')[1]['concurrency'], "\n";
call($gateway, 'GET', '/v1/subscriptions/bad');

echo "-- body fidelity: 5 MiB of binary, and a binary dead letter\n";
call($gateway, 'PUT', '/v1/subscriptions/bin', ['queue' => 'bin.q', 'callback' => "{$endpoint->url}/bin", 'retry' => [0.2], 'timeout_ms' => 20000]);
var_dump(dq_eventually(fn () => consumed($vhost) === ['api.q', 'bin.q'], 15));
$big = random_bytes(5 * 1024 * 1024);
$big[0] = "\xff";   // never valid UTF-8
$producer->publish('', 'bin.q', $big, ['content_type' => 'application/x-dq-test']);
var_dump(dq_eventually(fn () => is_file("$dir/bin-0.type"), 20));
clearstatcache();
echo 'arrived: ', filesize("$dir/bin-0"), ' bytes, byte-exact: ', var_export(md5_file("$dir/bin-0") === md5($big), true), ', content type: ', file_get_contents("$dir/bin-0.type"), "\n";
$gone = "\xc3\x28 not UTF-8 \xfe\xff\x00";
$producer->publish('', 'bin.q', $gone, ['content_type' => 'application/octet-stream', 'message_id' => 'gone-1', 'headers' => ['verdict' => 'gone']]);
var_dump(dq_eventually(fn () => ($gateway->request('GET', '/v1/subscriptions/bin/dead')[1]['total'] ?? 0) === 1, 10));
[, $dead] = call($gateway, 'GET', '/v1/subscriptions/bin/dead');
$letter = $dead['dead'][0];
printf("body_base64 is the body: %s, body: %s, attempts %d, last_status %d, message_id %s, content_type %s\n",
    var_export(base64_decode($letter['body_base64'] ?? '') === $gone, true), array_key_exists('body', $letter) ? 'SHOWN' : 'absent',
    $letter['attempts'], $letter['last_status'], $letter['properties']['message_id'], $letter['properties']['content_type']);
echo 'the endpoint got it byte-exact: ', var_export(file_get_contents("$dir/bin-1") === $gone, true), "\n";
call($gateway, 'DELETE', "/v1/subscriptions/bin/dead/{$letter['id']}", null, '/v1/subscriptions/bin/dead/{id}');
echo 'dead letters left: ', $gateway->request('GET', '/v1/subscriptions/bin/dead')[1]['total'], "\n";

echo "-- DELETE: the consumer stops\n";
call($gateway, 'DELETE', '/v1/subscriptions/api');
var_dump(dq_eventually(fn () => consumed($vhost) === ['bin.q'], 10));
$producer->publish('', 'api.q', 'six');
usleep(1500000);
echo 'delivered after DELETE: ', count($api()) - 5, "; api.q: ", json_encode($depth('api.q')), "\n";
call($gateway, 'GET', '/v1/subscriptions/api');
call($gateway, 'DELETE', '/v1/subscriptions/api');
call($gateway, 'DELETE', '/v1/subscriptions/bin');
[, $health] = $gateway->request('GET', '/healthz');
echo 'subscriptions in /healthz at the end: ', json_encode($health['subscriptions'] ?? 'none'), "\n";
$gateway->stop();
$endpoint->stop();
?>
--EXPECT--
-- PUT: consumed and delivered
subscriptions in /healthz at start: "none"
PUT /v1/subscriptions/api: 201
shown: secret_set true, secret absent, max_attempts 2
bool(true)
bool(true)
one signed, three signed, two signed
-- PATCH paused: new messages stay in the queue
PATCH /v1/subscriptions/api: 200
bool(true)
healthz: paused
delivered while paused: 0; api.q: {"messages":"2","messages_unacknowledged":"0"}
-- PATCH active: delivered
PATCH /v1/subscriptions/api: 200
bool(true)
five signed, four signed
bool(true)
-- GET
GET /v1/subscriptions/api: 200
{"concurrency":2,"name":"api","queue":"api.q","retry":[0.2],"secret_set":true,"status":"active"}
GET /v1/subscriptions: 200
listed: api; a secret in the list: false
-- bad definitions: 422, the field named
an unknown field            422 INVALID_ARGUMENT, names prefech: true
no queue                    422 INVALID_ARGUMENT, names queue: true
callback ftp://x            422 INVALID_ARGUMENT, names callback: true
concurrency 0               422 INVALID_ARGUMENT, names concurrency: true
concurrency 100000          422 INVALID_ARGUMENT, names concurrency: true
prefetch 4 < concurrency 8  422 INVALID_ARGUMENT, names prefetch: true
status disabled             422 INVALID_ARGUMENT, names status: true
PATCH concurrency 0: 422 INVALID_ARGUMENT; still 2
GET /v1/subscriptions/bad: 404 NOT_FOUND
-- body fidelity: 5 MiB of binary, and a binary dead letter
PUT /v1/subscriptions/bin: 201
bool(true)
bool(true)
arrived: 5242880 bytes, byte-exact: true, content type: application/x-dq-test
bool(true)
GET /v1/subscriptions/bin/dead: 200
body_base64 is the body: true, body: absent, attempts 1, last_status 410, message_id gone-1, content_type application/octet-stream
the endpoint got it byte-exact: true
DELETE /v1/subscriptions/bin/dead/{id}: 204
dead letters left: 0
-- DELETE: the consumer stops
DELETE /v1/subscriptions/api: 204
bool(true)
delivered after DELETE: 0; api.q: {"messages":"1","messages_unacknowledged":"0"}
GET /v1/subscriptions/api: 404 NOT_FOUND
DELETE /v1/subscriptions/api: 404 NOT_FOUND
DELETE /v1/subscriptions/bin: 204
subscriptions in /healthz at the end: "none"
