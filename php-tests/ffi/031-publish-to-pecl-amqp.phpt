--TEST--
DqFfi\Producer -> pecl amqp (AMQPQueue::get): body and every property arrive intact
--EXTENSIONS--
ffi
amqp
--SKIPIF--
<?php require __DIR__ . '/inc.php'; dq_ffi_skipif(); ?>
--FILE--
<?php
require __DIR__ . '/inc.php';
$vhost = new TestVhost('ffi-dq-to-pecl-amqp');
$producer = new DqFfi\Producer(['amqp' => $vhost->url()]);
$producer->declareQueue('inbox');

// pecl amqp 1.11 keeps only the strings and tables of a field array (its own limitation: it
// drops the integers and booleans of arrays it published itself too), so lists hold those.
$headers = [
    'string' => 'naïve ✓',
    'int' => 42,
    'negative' => -7,
    'big' => PHP_INT_MAX,
    'float' => 1.5,
    'true' => true,
    'false' => false,
    'nested' => ['a' => ['b' => 'c', 'n' => 1, 'f' => false]],
    'list' => ['one', 'two', ['x' => 'y', 'i' => 3]],
];
$properties = [
    'message_id' => 'm-1',
    'correlation_id' => 'c-1',
    'reply_to' => 'replies',
    'content_type' => 'text/plain',
    'content_encoding' => 'utf-8',
    'type' => 'order.paid',
    'app_id' => 'shop',
    'user_id' => 'guest',
    'priority' => 7,
    'expiration' => '60000',
    'timestamp' => 1800000000,
    'headers' => $headers,
    'persistent' => false,
];
$getters = [
    'message_id' => 'getMessageId',
    'correlation_id' => 'getCorrelationId',
    'reply_to' => 'getReplyTo',
    'content_type' => 'getContentType',
    'content_encoding' => 'getContentEncoding',
    'type' => 'getType',
    'app_id' => 'getAppId',
    'user_id' => 'getUserId',
    'priority' => 'getPriority',
    'expiration' => 'getExpiration',
    'timestamp' => 'getTimestamp',
];
$body = "text \x00\xff\r\n ✓";
$producer->publish('', 'inbox', $body, $properties);
$producer->publish('', 'inbox', ['a' => 1, 'b' => [true, null]], ['message_id' => 'm-2', 'persistent' => true]);
$producer->publish('', 'inbox', 'plain');

$queue = new AMQPQueue(dq_pecl_amqp($vhost));
$queue->setName('inbox');

echo "-- every property, persistent false\n";
$envelope = $queue->get(AMQP_AUTOACK);
var_dump($envelope->getBody() === $body);
foreach ($getters as $name => $getter) {
    $got = $envelope->$getter();
    echo "$name: ", json_encode($got), $got === $properties[$name] ? '' : ' WRONG, expected ' . json_encode($properties[$name]), "\n";
}
echo 'delivery_mode: ', $envelope->getDeliveryMode(), "\n";
$got = $envelope->getHeaders();
echo 'headers: ', json_encode(dq_ksort_deep($got), JSON_UNESCAPED_UNICODE | JSON_PRESERVE_ZERO_FRACTION), "\n";
var_dump(dq_ksort_deep($got) === dq_ksort_deep($headers));

echo "-- array body, persistent true\n";
$envelope = $queue->get(AMQP_AUTOACK);
echo $envelope->getBody(), "\n";
echo $envelope->getContentType(), ' ', $envelope->getMessageId(), ' ', $envelope->getDeliveryMode(), "\n";

echo "-- no properties: persistent by default, nothing else\n";
$envelope = $queue->get(AMQP_AUTOACK);
echo $envelope->getBody(), ' ', $envelope->getDeliveryMode(), ' ', json_encode($envelope->getHeaders()), ' [', $envelope->getContentType(), $envelope->getMessageId(), $envelope->getExpiration(), ']', "\n";
var_dump($queue->get(AMQP_AUTOACK));
?>
--EXPECT--
-- every property, persistent false
bool(true)
message_id: "m-1"
correlation_id: "c-1"
reply_to: "replies"
content_type: "text\/plain"
content_encoding: "utf-8"
type: "order.paid"
app_id: "shop"
user_id: "guest"
priority: 7
expiration: "60000"
timestamp: 1800000000
delivery_mode: 1
headers: {"big":9223372036854775807,"false":false,"float":1.5,"int":42,"list":["one","two",{"i":3,"x":"y"}],"negative":-7,"nested":{"a":{"b":"c","f":false,"n":1}},"string":"naïve ✓","true":true}
bool(true)
-- array body, persistent true
{"a":1,"b":[true,null]}
application/json m-2 2
-- no properties: persistent by default, nothing else
plain 2 [] []
bool(false)
