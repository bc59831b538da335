--TEST--
php-amqplib -> Dq\Consumer: body bytes and every property (typed headers included) arrive intact
--EXTENSIONS--
dq
mbstring
sockets
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';

use PhpAmqpLib\Message\AMQPMessage;
use PhpAmqpLib\Wire\AMQPArray;
use PhpAmqpLib\Wire\AMQPDecimal;
use PhpAmqpLib\Wire\AMQPTable;

$vhost = new TestVhost('amqplib-to-dq');
(new Dq\Producer(['amqp' => $vhost->url()]))->declareQueue('inbox');
$connection = dq_amqplib($vhost);
$channel = $connection->channel();
$channel->confirm_select();

$table = new AMQPTable([
    'string' => 'naïve ✓',
    'int' => 42,
    'negative' => -7,
    'big' => PHP_INT_MAX,
    'true' => true,
    'false' => false,
    'nested' => ['a' => ['b' => 'c', 'n' => 1]],
    'list' => new AMQPArray([1, 'two', false, ['x' => 'y']]),
]);
$table->set('short', -300, AMQPTable::T_INT_SHORT);
$table->set('long', 70000, AMQPTable::T_INT_LONG);
// php-amqplib cannot write doubles: it sends a PHP float as a string.
$table->set('float', 2.25);
$table->set('decimal', new AMQPDecimal(12345, 2), AMQPTable::T_DECIMAL);
$table->set('stamp', 1800000000, AMQPTable::T_TIMESTAMP);
$table->set('void', null, AMQPTable::T_VOID);
$expectedHeaders = [
    'string' => 'naïve ✓', 'int' => 42, 'negative' => -7, 'big' => PHP_INT_MAX, 'true' => true, 'false' => false,
    'nested' => ['a' => ['b' => 'c', 'n' => 1]], 'list' => [1, 'two', false, ['x' => 'y']],
    'short' => -300, 'long' => 70000, 'float' => '2.25', 'decimal' => 123.45,
    'stamp' => 1800000000, 'void' => null,
];
$expected = [
    'message_id' => 'm-1',
    'correlation_id' => 'c-1',
    'reply_to' => 'replies',
    'content_type' => 'application/octet-stream',
    'content_encoding' => 'identity',
    'type' => 'order.paid',
    'app_id' => 'shop',
    'user_id' => 'guest',
    'priority' => 9,
    'expiration' => '60000',
    'timestamp' => 1800000000,
    'delivery_mode' => 1,
];
$body = "\x00\xff binary \x80\r\n\x00";
$channel->basic_publish(new AMQPMessage($body, $expected + ['application_headers' => $table]), '', 'inbox');
$channel->basic_publish(new AMQPMessage('persistent', ['delivery_mode' => 2]), '', 'inbox');
$channel->basic_publish(new AMQPMessage(''), '', 'inbox');
$channel->wait_for_pending_acks(3.0);

$consumer = new Dq\Consumer('inbox', ['amqp' => $vhost->url()]);

echo "-- every property\n";
$delivery = $consumer->next(3.0);
var_dump($delivery->body() === $body, bin2hex($delivery->body()));
$properties = $delivery->properties();
foreach ($expected as $name => $value) {
    $got = $properties[$name] ?? '(missing)';
    echo "$name: ", json_encode($got), $got === $value ? '' : ' WRONG, expected ' . json_encode($value), "\n";
}
echo 'persistent: ', json_encode($properties['persistent'] ?? '(missing)'), "\n";
echo 'headers: ', json_encode(dq_ksort_deep($properties['headers']), JSON_UNESCAPED_UNICODE | JSON_PRESERVE_ZERO_FRACTION), "\n";
var_dump(dq_ksort_deep($properties['headers']) === dq_ksort_deep($expectedHeaders));
echo 'no more: ', implode(' ', array_diff(array_keys($properties), array_keys($expected), ['persistent', 'headers'])), "\n";
echo $delivery->routingKey(), ' [', $delivery->exchange(), '] ', var_export($delivery->redelivered(), true), "\n";
$delivery->ack();

echo "-- delivery_mode 2\n";
$delivery = $consumer->next(3.0);
echo $delivery->body(), ' ', json_encode($delivery->properties()), "\n";
$delivery->ack();

echo "-- empty body, no properties\n";
$delivery = $consumer->next(3.0);
var_dump($delivery->body(), $delivery->properties());
$delivery->ack();
var_dump($consumer->next(0.1));
$channel->close();
$connection->close();
?>
--EXPECT--
-- every property
bool(true)
string(28) "00ff2062696e61727920800d0a00"
message_id: "m-1"
correlation_id: "c-1"
reply_to: "replies"
content_type: "application\/octet-stream"
content_encoding: "identity"
type: "order.paid"
app_id: "shop"
user_id: "guest"
priority: 9
expiration: "60000"
timestamp: 1800000000
delivery_mode: 1
persistent: false
headers: {"big":9223372036854775807,"decimal":123.45,"false":false,"float":"2.25","int":42,"list":[1,"two",false,{"x":"y"}],"long":70000,"negative":-7,"nested":{"a":{"b":"c","n":1}},"short":-300,"stamp":1800000000,"string":"naïve ✓","true":true,"void":null}
bool(true)
no more: 
inbox [] false
-- delivery_mode 2
persistent {"delivery_mode":2,"persistent":true}
-- empty body, no properties
string(0) ""
array(0) {
}
NULL
