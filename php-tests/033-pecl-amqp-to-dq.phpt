--TEST--
pecl amqp (AMQPExchange::publish) -> Dq\Consumer: body bytes and every property arrive intact
--EXTENSIONS--
dq
amqp
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$vhost = new TestVhost('pecl-amqp-to-dq');
(new Dq\Producer(['amqp' => $vhost->url()]))->declareQueue('inbox');
$exchange = new AMQPExchange(dq_pecl_amqp($vhost)); // the default exchange

$headers = [
    'string' => 'naïve ✓',
    'int' => 42,
    'negative' => -7,
    'big' => PHP_INT_MAX,
    'float' => 1.5,
    'true' => true,
    'false' => false,
    'null' => null,
    'nested' => ['a' => ['b' => 'c', 'n' => 1]],
    'list' => [1, 'two', false, 2.5, ['x' => 'y']],
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
var_dump($exchange->publish($body, 'inbox', AMQP_NOPARAM, $expected + ['headers' => $headers]));
$exchange->publish('persistent', 'inbox', AMQP_NOPARAM, ['delivery_mode' => AMQP_DURABLE]);
$exchange->publish('', 'inbox');

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
var_dump(dq_ksort_deep($properties['headers']) === dq_ksort_deep($headers));
echo 'no more: ', implode(' ', array_diff(array_keys($properties), array_keys($expected), ['persistent', 'headers'])), "\n";
echo $delivery->routingKey(), ' [', $delivery->exchange(), '] ', var_export($delivery->redelivered(), true), "\n";
$delivery->ack();

echo "-- delivery_mode 2\n";
$delivery = $consumer->next(3.0);
echo $delivery->body(), ' ', json_encode($delivery->properties()), "\n";
$delivery->ack();

echo "-- empty body, no properties (pecl amqp sets content_type text/plain)\n";
$delivery = $consumer->next(3.0);
var_dump($delivery->body(), $delivery->properties());
$delivery->ack();
var_dump($consumer->next(0.1));
?>
--EXPECT--
bool(true)
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
headers: {"big":9223372036854775807,"false":false,"float":1.5,"int":42,"list":[1,"two",false,2.5,{"x":"y"}],"negative":-7,"nested":{"a":{"b":"c","n":1}},"null":null,"string":"naïve ✓","true":true}
bool(true)
no more: 
inbox [] false
-- delivery_mode 2
persistent {"content_type":"text\/plain","delivery_mode":2,"persistent":true}
-- empty body, no properties (pecl amqp sets content_type text/plain)
string(0) ""
array(1) {
  ["content_type"]=>
  string(10) "text/plain"
}
NULL
