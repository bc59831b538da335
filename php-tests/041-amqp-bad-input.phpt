--TEST--
Dq\Producer, Dq\Consumer: every bad argument throws Dq\InvalidArgumentException (code 2) naming the field and the value; nothing is published
--EXTENSIONS--
dq
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$vhost = new TestVhost('amqp-bad-input');
$url = $vhost->url();

function attempt(string $label, callable $fn): void
{
    echo "$label: ";
    try {
        $fn();
        echo "accepted\n";
    } catch (Throwable $e) {
        dq_show($e);
    }
}

echo "-- constructor options\n";
attempt('unknown option', fn () => new Dq\Producer(['amqp' => $url, 'confirms' => true]));
attempt('prefetch is not a producer option', fn () => new Dq\Producer(['amqp' => $url, 'prefetch' => 5]));
attempt('a list', fn () => new Dq\Producer([$url]));
attempt('consumer unknown option', fn () => new Dq\Consumer('q', ['amqp' => $url, 'prefech' => 1]));
attempt('amqp not a URL', fn () => new Dq\Producer(['amqp' => 'http://127.0.0.1:5672/']));
attempt('amqp bad port', fn () => new Dq\Producer(['amqp' => 'amqp://guest:secret@127.0.0.1:port/x']));
attempt('amqp not a string', fn () => new Dq\Producer(['amqp' => 5672]));
attempt('confirm a string', fn () => new Dq\Producer(['amqp' => $url, 'confirm' => 'yes']));
attempt('confirm an int', fn () => new Dq\Producer(['amqp' => $url, 'confirm' => 1]));
attempt('timeout a string', fn () => new Dq\Producer(['amqp' => $url, 'timeout' => 'soon']));
attempt('timeout 0', fn () => new Dq\Producer(['amqp' => $url, 'timeout' => 0]));
attempt('timeout NAN', fn () => new Dq\Consumer('q', ['amqp' => $url, 'timeout' => NAN]));
attempt('prefix', fn () => new Dq\Producer(['amqp' => $url, 'prefix' => 'a b']));
attempt('prefetch 0', fn () => new Dq\Consumer('q', ['amqp' => $url, 'prefetch' => 0]));
attempt('prefetch 70000', fn () => new Dq\Consumer('q', ['amqp' => $url, 'prefetch' => 70000]));
attempt('prefetch "10"', fn () => new Dq\Consumer('q', ['amqp' => $url, 'prefetch' => '10']));
attempt('prefetch 65535', fn () => new Dq\Consumer('q', ['amqp' => $url, 'prefetch' => 65535]));

$producer = new Dq\Producer(['amqp' => $url]);
$producer->declareQueue('q');

echo "-- properties\n";
$bad = [
    'priority 300' => ['priority' => 300],
    'priority -1' => ['priority' => -1],
    'priority "5"' => ['priority' => '5'],
    'expiration "soon"' => ['expiration' => 'soon'],
    'expiration -5' => ['expiration' => -5],
    'headers "x"' => ['headers' => 'x'],
    'headers a list' => ['headers' => [1, 2]],
    'headers key of 300 bytes' => ['headers' => [str_repeat('k', 300) => 1]],
    'headers NAN' => ['headers' => ['n' => NAN]],
    'headers not UTF-8' => ['headers' => ['bin' => "\xff"]],
    'reply_to of 300 bytes' => ['reply_to' => str_repeat('r', 300)],
    'message_id an array' => ['message_id' => ['a']],
    'message_id a float' => ['message_id' => 1.5],
    'content_type null' => ['content_type' => null],
    'persistent "yes"' => ['persistent' => 'yes'],
    'delivery_mode 0' => ['delivery_mode' => 0],
    'delivery_mode 3' => ['delivery_mode' => 3],
    'timestamp -1' => ['timestamp' => -1],
    'timestamp "now"' => ['timestamp' => 'now'],
    'mandatory 1' => ['mandatory' => 1],
    'unknown messageId' => ['message_id' => 'ok', 'messageId' => 'x'],
];
foreach ($bad as $label => $properties) {
    attempt($label, fn () => $producer->publish('', 'q', 'body', $properties));
}
attempt('the same, publishDelayed', fn () => $producer->publishDelayed('', 'q', 'body', 0.1, ['messageId' => 'x']));
attempt('the same, call', fn () => $producer->call('', 'q', 'body', 1.0, ['priority' => 300]));

echo "-- bodies\n";
foreach ([5, 1.5, null, true] as $body) {
    attempt('body ' . get_debug_type($body), fn () => $producer->publish('', 'q', $body));
}
attempt('body a resource', fn () => $producer->publish('', 'q', STDIN));
attempt('body array, not UTF-8', fn () => $producer->publish('', 'q', ['text' => "\xff"]));
attempt('publishDelayed body null', fn () => $producer->publishDelayed('', 'q', null, 0.1));
attempt('call body int', fn () => $producer->call('', 'q', 7, 1.0));

echo "-- publishBatch\n";
attempt('an int item', fn () => $producer->publishBatch('', [1]));
attempt('a null item', fn () => $producer->publishBatch('', [['body' => 'fine'], null]));
attempt('a string item', fn () => $producer->publishBatch('', ['body']));

echo "-- timeouts and delays\n";
foreach ([0.0, -1.0, NAN, INF, 3601.0] as $timeout) {
    attempt("call timeout $timeout", fn () => $producer->call('', 'q', 'body', $timeout));
}
attempt('publishDelayed -1', fn () => $producer->publishDelayed('', 'q', 'body', -1));
$consumer = new Dq\Consumer('q', ['amqp' => $url]);
foreach ([-1.0, NAN, INF, 3601.0] as $wait) {
    attempt("next($wait)", fn () => $consumer->next($wait));
}

echo "-- topology arguments\n";
attempt('declareQueue options a list', fn () => $producer->declareQueue('q', ['durable']));
attempt('declareExchange options a list', fn () => $producer->declareExchange('e', 'direct', [true]));
attempt('bindQueue arguments a list', fn () => $producer->bindQueue('q', 'amq.direct', 'k', ['x-match']));

echo "-- nothing was published; the producer works\n";
$producer->publish('', 'q', 'fine');
$delivery = $consumer->next(1.0);
echo $delivery->body(), "\n";
$delivery->ack();
var_dump($consumer->next(0.1));
?>
--EXPECTF--
-- constructor options
unknown option: Dq\InvalidArgumentException(2): unknown option "confirms" (options: amqp, prefix, timeout, amqp_queue_type, confirm)
prefetch is not a producer option: Dq\InvalidArgumentException(2): unknown option "prefetch" (options: amqp, prefix, timeout, amqp_queue_type, confirm)
a list: Dq\InvalidArgumentException(2): unknown option "0" (options: amqp, prefix, timeout, amqp_queue_type, confirm)
consumer unknown option: Dq\InvalidArgumentException(2): unknown option "prefech" (options: amqp, prefix, timeout, amqp_queue_type, prefetch)
amqp not a URL: Dq\InvalidArgumentException(2): RabbitMQ URL "http://127.0.0.1:5672/" is invalid (Invalid AMQP scheme: http): expected amqp://user:password@host:5672/vhost
amqp bad port: Dq\InvalidArgumentException(2): RabbitMQ URL "amqp://guest:***@127.0.0.1:port/x" is invalid (invalid port number): expected amqp://user:password@host:5672/vhost
amqp not a string: Dq\InvalidArgumentException(2): options['amqp'] 5672 is an int: expected a string
confirm a string: Dq\InvalidArgumentException(2): options['confirm'] "yes" is a string: expected true or false
confirm an int: Dq\InvalidArgumentException(2): options['confirm'] 1 is an int: expected true or false
timeout a string: Dq\InvalidArgumentException(2): options['timeout'] "soon" is a string: expected seconds
timeout 0: Dq\InvalidArgumentException(2): options['timeout']: timeout 0 is invalid: expected seconds above 0 and at most 3600
timeout NAN: Dq\InvalidArgumentException(2): options['timeout']: timeout NaN is invalid: expected seconds above 0 and at most 3600
prefix: Dq\InvalidArgumentException(2): prefix "a b" is invalid: expected 1 to 64 characters of A-Z a-z 0-9 _ . : -
prefetch 0: Dq\InvalidArgumentException(2): options['prefetch'] 0 is an int: expected 1 to 65535
prefetch 70000: Dq\InvalidArgumentException(2): options['prefetch'] 70000 is an int: expected 1 to 65535
prefetch "10": Dq\InvalidArgumentException(2): options['prefetch'] "10" is a string: expected 1 to 65535
prefetch 65535: accepted
-- properties
priority 300: Dq\InvalidArgumentException(2): properties: priority 300 is invalid: expected an integer from 0 to 255
priority -1: Dq\InvalidArgumentException(2): properties: priority -1 is invalid: expected an integer from 0 to 255
priority "5": Dq\InvalidArgumentException(2): properties: priority "5" is invalid: expected an integer from 0 to 255
expiration "soon": Dq\InvalidArgumentException(2): properties: expiration "soon" is invalid: expected milliseconds, e.g. "60000"
expiration -5: Dq\InvalidArgumentException(2): properties: expiration "-5" is invalid: expected milliseconds, e.g. "60000"
headers "x": Dq\InvalidArgumentException(2): properties: headers is a string: expected an array of name => value
headers a list: Dq\InvalidArgumentException(2): properties: headers is an array: expected an array of name => value
headers key of 300 bytes: Dq\InvalidArgumentException(2): properties: headers key "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"... is 300 bytes: AMQP allows at most 255
headers NAN: Dq\InvalidArgumentException(2): properties["headers"]["n"]: float NaN cannot be encoded as JSON
headers not UTF-8: Dq\InvalidArgumentException(2): properties["headers"]["bin"]: string is not valid UTF-8
reply_to of 300 bytes: Dq\InvalidArgumentException(2): properties: reply_to "rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr"... is 300 bytes: AMQP allows at most 255
message_id an array: Dq\InvalidArgumentException(2): properties: message_id is an array: expected a string
message_id a float: Dq\InvalidArgumentException(2): properties: message_id is a number: expected a string
content_type null: Dq\InvalidArgumentException(2): properties: content_type is null: expected a string
persistent "yes": Dq\InvalidArgumentException(2): properties: persistent "yes" is invalid: expected true or false
delivery_mode 0: Dq\InvalidArgumentException(2): properties: delivery_mode 0 is invalid: expected 1 (transient) or 2 (persistent)
delivery_mode 3: Dq\InvalidArgumentException(2): properties: delivery_mode 3 is invalid: expected an integer from 0 to 2
timestamp -1: Dq\InvalidArgumentException(2): properties: timestamp -1 is invalid: expected unix seconds
timestamp "now": Dq\InvalidArgumentException(2): properties: timestamp "now" is invalid: expected unix seconds
mandatory 1: Dq\InvalidArgumentException(2): properties: mandatory 1 is invalid: expected true or false
unknown messageId: Dq\InvalidArgumentException(2): properties: unknown property "messageId": expected one of message_id, correlation_id, reply_to, content_type, content_encoding, type, app_id, user_id, priority, expiration, timestamp, headers, persistent, delivery_mode, mandatory
the same, publishDelayed: Dq\InvalidArgumentException(2): properties: unknown property "messageId": expected one of %s
the same, call: Dq\InvalidArgumentException(2): properties: priority 300 is invalid: expected an integer from 0 to 255
-- bodies
body int: Dq\InvalidArgumentException(2): body 5 is an int: expected a string, or an array to send as JSON
body float: Dq\InvalidArgumentException(2): body 1.5 is a float: expected a string, or an array to send as JSON
body null: Dq\InvalidArgumentException(2): body is null: expected a string, or an array to send as JSON
body bool: Dq\InvalidArgumentException(2): body true is a bool: expected a string, or an array to send as JSON
body a resource: Dq\InvalidArgumentException(2): body is a resource: expected a string, or an array to send as JSON
body array, not UTF-8: Dq\InvalidArgumentException(2): body["text"]: string is not valid UTF-8
publishDelayed body null: Dq\InvalidArgumentException(2): body is null: expected a string, or an array to send as JSON
call body int: Dq\InvalidArgumentException(2): body 7 is an int: expected a string, or an array to send as JSON
-- publishBatch
an int item: Dq\InvalidArgumentException(2): messages[0] 1 is an int: expected ['routing_key' => .., 'body' => .., 'properties' => [..]]
a null item: Dq\InvalidArgumentException(2): messages[1] is null: expected ['routing_key' => .., 'body' => .., 'properties' => [..]]
a string item: Dq\InvalidArgumentException(2): messages[0] "body" is a string: expected ['routing_key' => .., 'body' => .., 'properties' => [..]]
-- timeouts and delays
call timeout 0: Dq\InvalidArgumentException(2): timeout: timeout 0 is invalid: expected seconds above 0 and at most 3600
call timeout -1: Dq\InvalidArgumentException(2): timeout: timeout -1 is invalid: expected seconds above 0 and at most 3600
call timeout NAN: Dq\InvalidArgumentException(2): timeout: timeout NaN is invalid: expected seconds above 0 and at most 3600
call timeout INF: Dq\InvalidArgumentException(2): timeout: timeout inf is invalid: expected seconds above 0 and at most 3600
call timeout 3601: Dq\InvalidArgumentException(2): timeout: timeout 3601 is invalid: expected seconds above 0 and at most 3600
publishDelayed -1: Dq\InvalidArgumentException(2): delay -1 is out of range: expected seconds from 0 to 2592000 (30 days)
next(-1): Dq\InvalidArgumentException(2): timeout -1 is invalid: expected 0 to 3600 seconds
next(NAN): Dq\InvalidArgumentException(2): timeout NaN is invalid: expected 0 to 3600 seconds
next(INF): Dq\InvalidArgumentException(2): timeout inf is invalid: expected 0 to 3600 seconds
next(3601): Dq\InvalidArgumentException(2): timeout 3601 is invalid: expected 0 to 3600 seconds
-- topology arguments
declareQueue options a list: Dq\InvalidArgumentException(2): options must be an array of name => value, not a list
declareExchange options a list: Dq\InvalidArgumentException(2): options must be an array of name => value, not a list
bindQueue arguments a list: Dq\InvalidArgumentException(2): arguments must be an array of name => value, not a list
-- nothing was published; the producer works
fine
NULL
