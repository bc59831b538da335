--TEST--
Subscriptions: Dq\Producer::call and a php-amqplib RPC client (exclusive callback queue, correlation_id) answered by an HTTP endpoint behind a subscription: the 2xx answer's body is the reply, also after a 500 retried on the ladder; a 410 answer sends no reply and dead-letters the request
--EXTENSIONS--
dq
mbstring
sockets
posix
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
require __DIR__ . '/inc/subscription.inc';
require_once '/usr/share/php/PhpAmqpLib/autoload.php';

use PhpAmqpLib\Message\AMQPMessage;

$vhost = new TestVhost('sub-rpc');
$prefix = dq_test_prefix('sub-rpc');
$dir = sys_get_temp_dir() . "/$prefix";
mkdir($dir);
register_shutdown_function(function () use ($dir): void {
    array_map('unlink', glob("$dir/*"));
    @rmdir($dir);
});

// The endpoint: answers "<attempt>: <the body reversed>" (JSON in, JSON out), and logs what the
// gateway told it. "fail once" gets a 500 the first time; "gone" always a 410; a request with a
// bad signature a 401.
file_put_contents("$dir/endpoint.php", <<<'PHP'
    <?php
    $body = file_get_contents('php://input');
    $signed = hash_equals('sha256=' . hash_hmac('sha256', $body, 'rpc-secret'), $_SERVER['HTTP_X_DQ_SIGNATURE'] ?? '');
    $attempt = (int) ($_SERVER['HTTP_X_DQ_ATTEMPT'] ?? 0);
    $seen = ['body' => $body, 'signed' => $signed, 'path' => $_SERVER['REQUEST_URI'], 'content_type' => $_SERVER['CONTENT_TYPE'] ?? null];
    foreach ($_SERVER as $name => $value) {
        if (str_starts_with($name, 'HTTP_X_DQ_') && $name !== 'HTTP_X_DQ_SIGNATURE') {
            $seen[strtolower(substr($name, 5))] = $value;
        }
    }
    file_put_contents(getenv('ENDPOINT_LOG'), json_encode($seen) . "\n", FILE_APPEND | LOCK_EX);
    $status = match (true) {
        !$signed => 401,
        $body === 'gone' => 410,
        $body === 'fail once' && $attempt === 1 => 500,
        default => 200,
    };
    http_response_code($status);
    if ($status !== 200) {
        echo "no: $status";
    } elseif (($_SERVER['CONTENT_TYPE'] ?? '') === 'application/json') {
        header('Content-Type: application/json');
        echo json_encode(['attempt' => $attempt, 'reversed' => array_reverse(json_decode($body, true))]);
    } else {
        header('Content-Type: text/plain; charset=utf-8');
        echo "$attempt: ", strrev($body);
    }
    PHP);
$endpoint = new TestEndpoint("$dir/endpoint.php", ['ENDPOINT_LOG' => "$dir/endpoint.log"]);
$gateway = dq_subscription_gateway($prefix, $vhost->url(), <<<TOML
    [[subscription]]
    name = "rpc"
    queue = "rpc.http"
    exchange = "amq.direct"
    routing_keys = ["rpc"]
    callback = "{$endpoint->url}/rpc?v=1"
    timeout_ms = 2000
    retry = [0.2]
    max_attempts = 2
    concurrency = 2
    secret = "rpc-secret"
    TOML);
var_dump(dq_eventually(fn () => dq_consumed_queues($vhost) === ['rpc.http'], 15));

/** The endpoint's log since the last look: one array per request. */
function requests(string $dir): array
{
    static $read = 0;
    $lines = array_slice(file("$dir/endpoint.log", FILE_IGNORE_NEW_LINES) ?: [], $read);
    $read += count($lines);
    return array_map(fn ($line) => json_decode($line, true), $lines);
}

echo "-- Dq\\Producer::call\n";
$producer = new Dq\Producer(['amqp' => $vhost->url()]);
echo $producer->call('amq.direct', 'rpc', 'ping', 5.0, ['message_id' => 'm-1', 'headers' => ['x-tenant' => 'acme']]), "\n";
$seen = requests($dir)[0];
$correlation = $seen['x_dq_correlation_id'] ?? '';
unset($seen['x_dq_correlation_id']);
ksort($seen);
echo json_encode($seen, JSON_UNESCAPED_SLASHES), "\n";
echo 'correlation id: ', strlen($correlation) >= 16 ? 'set by call()' : "missing ($correlation)", "\n";
echo $producer->call('', 'rpc.http', ['a', 'b', 'c'], 5.0), "\n";
echo 'content type sent: ', requests($dir)[0]['content_type'], "\n";

echo "-- a 500, then the ladder's second attempt answers\n";
[$reply, $took] = dq_timed(fn () => $producer->call('', 'rpc.http', 'fail once', 5.0));
echo $reply, "\n";
echo 'attempts: ', implode(', ', array_map(fn ($r) => $r['x_dq_attempt'], requests($dir))), '; took at least the 0.2 s rung: ', var_export($took >= 0.2 && $took < 3.0, true), "\n";

echo "-- a 410: no reply, a dead letter at once\n";
[$e, $took] = dq_timed(fn () => $producer->call('', 'rpc.http', 'gone', 1.0, ['message_id' => 'm-gone']));
dq_show($e);
echo 'attempts: ', implode(', ', array_map(fn ($r) => $r['x_dq_attempt'], requests($dir))), "\n";
$dead = new Dq\Consumer("$prefix.dead.rpc", ['amqp' => $vhost->url()]);
$letter = $dead->next(5.0);
$headers = $letter->properties()['headers'];
printf("%s.dead.rpc: %s, message_id %s, x-dq-attempts %s, x-dq-last-status %s, x-dq-last-error %s\n", '<prefix>', $letter->body(),
    $letter->properties()['message_id'], $headers['x-dq-attempts'], $headers['x-dq-last-status'], $headers['x-dq-last-error']);
$letter->ack();

echo "-- php-amqplib: an exclusive callback queue and a correlation_id of its own\n";
$connection = dq_amqplib($vhost);
$channel = $connection->channel();
[$callbackQueue] = $channel->queue_declare('', false, false, true, false);
/** php-amqplib's RPC client: publish with reply_to and correlation_id, wait for the reply with that id. */
function amqplib_call($channel, string $replyTo, AMQPMessage $request, string $exchange, string $key): ?AMQPMessage
{
    $id = $request->get('correlation_id');
    $response = null;
    $tag = $channel->basic_consume($replyTo, '', false, true, false, false, function (AMQPMessage $reply) use ($id, &$response) {
        if ($reply->get('correlation_id') === $id) {
            $response = $reply;
        }
    });
    $channel->basic_publish($request, $exchange, $key);
    $deadline = microtime(true) + 5;
    while ($response === null && microtime(true) < $deadline) {
        try {
            $channel->wait(null, false, 0.2);
        } catch (PhpAmqpLib\Exception\AMQPTimeoutException) {
        }
    }
    $channel->basic_cancel($tag);
    return $response;
}
foreach ([['', 'rpc.http', 'hello', []], ['amq.direct', 'rpc', '["x","y"]', ['content_type' => 'application/json']]] as [$exchange, $key, $body, $properties]) {
    $id = 'corr-' . bin2hex(random_bytes(6));
    $reply = amqplib_call($channel, $callbackQueue, new AMQPMessage($body, $properties + ['reply_to' => $callbackQueue, 'correlation_id' => $id]), $exchange, $key);
    $seen = requests($dir)[0];
    printf("%s -> %s | correlation_id %s | content_type %s | the endpoint saw correlation id %s, exchange \"%s\", routing key %s\n",
        $body, $reply?->getBody() ?? 'NO REPLY', $reply?->get('correlation_id') === $id ? 'matches' : 'WRONG',
        $reply?->has('content_type') ? $reply->get('content_type') : '-',
        ($seen['x_dq_correlation_id'] ?? '') === $id ? 'the same' : 'WRONG', $seen['x_dq_exchange'], $seen['x_dq_routing_key']);
}
$channel->close();
$connection->close();

echo "-- nothing left in the queues\n";
var_dump(dq_eventually(fn () => (dq_list_queues($vhost, ['messages', 'messages_unacknowledged'])['rpc.http'] ?? null) === ['messages' => '0', 'messages_unacknowledged' => '0'], 5));
echo str_replace($prefix, '<prefix>', json_encode(array_intersect_key(dq_list_queues($vhost), ['rpc.http' => 1, "$prefix.dead.rpc" => 1]))), "\n";
echo 'requests not signed: ', count(array_filter(array_map(fn ($l) => json_decode($l, true), file("$dir/endpoint.log")), fn ($r) => !$r['signed'])), "\n";
$gateway->stop();
$endpoint->stop();
?>
--EXPECTF--
bool(true)
-- Dq\Producer::call
1: gnip
{"body":"ping","content_type":"application/octet-stream","path":"/rpc?v=1","signed":true,"x_dq_attempt":"1","x_dq_exchange":"amq.direct","x_dq_header_x_tenant":"acme","x_dq_message_id":"m-1","x_dq_redelivered":"false","x_dq_routing_key":"rpc","x_dq_subscription":"rpc"}
correlation id: set by call()
{"attempt":1,"reversed":["c","b","a"]}
content type sent: application/json
-- a 500, then the ladder's second attempt answers
2: ecno liaf
attempts: 1, 2; took at least the 0.2 s rung: true
-- a 410: no reply, a dead letter at once
Dq\TimeoutException(5): no reply to %s within 1.000s (exchange "", routing key "rpc.http")
attempts: 1
<prefix>.dead.rpc: gone, message_id m-gone, x-dq-attempts 1, x-dq-last-status 410, x-dq-last-error HTTP 410 Gone: the receiver wants no more of it
-- php-amqplib: an exclusive callback queue and a correlation_id of its own
hello -> 1: olleh | correlation_id matches | content_type text/plain; charset=utf-8 | the endpoint saw correlation id the same, exchange "", routing key rpc.http
["x","y"] -> {"attempt":1,"reversed":["y","x"]} | correlation_id matches | content_type application/json | the endpoint saw correlation id the same, exchange "amq.direct", routing key rpc
-- nothing left in the queues
bool(true)
{"<prefix>.dead.rpc":{"messages":"0"},"rpc.http":{"messages":"0"}}
requests not signed: 0
