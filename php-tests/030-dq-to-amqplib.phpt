--TEST--
Dq\Producer -> php-amqplib: body and every property (headers of every type included) arrive intact
--EXTENSIONS--
dq
mbstring
sockets
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$vhost = new TestVhost('dq-to-amqplib');
$producer = new Dq\Producer(['amqp' => $vhost->url()]);
$producer->declareQueue('inbox');

$headers = [
    'string' => 'naïve ✓',
    'int' => 42,
    'negative' => -7,
    'big' => PHP_INT_MAX,
    'float' => 1.5,
    'true' => true,
    'false' => false,
    'nested' => ['a' => ['b' => 'c', 'n' => 1]],
    'list' => [1, 'two', 3.5, false, ['x' => 'y']],
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
$body = "text \x00\xff\r\n ✓";
$producer->publish('', 'inbox', $body, $properties);
$producer->publish('', 'inbox', ['a' => 1, 'b' => [true, null]], ['message_id' => 'm-2', 'persistent' => true]);
$producer->publish('', 'inbox', '');

$connection = dq_amqplib($vhost);
$channel = $connection->channel();

echo "-- every property, persistent false\n";
$message = $channel->basic_get('inbox', true);
var_dump($message->getBody() === $body);
foreach ($properties as $name => $expected) {
    if ($name === 'headers' || $name === 'persistent') {
        continue;
    }
    $got = $message->has($name) ? $message->get($name) : '(missing)';
    echo "$name: ", json_encode($got), $got === $expected ? '' : ' WRONG, expected ' . json_encode($expected), "\n";
}
echo 'delivery_mode: ', $message->get('delivery_mode'), "\n";
$got = $message->get('application_headers')->getNativeData();
echo 'headers: ', json_encode(dq_ksort_deep($got), JSON_UNESCAPED_UNICODE | JSON_PRESERVE_ZERO_FRACTION), "\n";
var_dump(dq_ksort_deep($got) === dq_ksort_deep($headers));
echo 'properties amqplib has: ', implode(' ', array_keys($message->get_properties())), "\n";

echo "-- array body, persistent true\n";
$message = $channel->basic_get('inbox', true);
echo $message->getBody(), "\n";
echo $message->get('content_type'), ' ', $message->get('message_id'), ' ', $message->get('delivery_mode'), "\n";

echo "-- no properties: persistent by default, nothing else\n";
$message = $channel->basic_get('inbox', true);
var_dump($message->getBody(), $message->get_properties());
var_dump($channel->basic_get('inbox', true));
$channel->close();
$connection->close();
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
headers: {"big":9223372036854775807,"false":false,"float":1.5,"int":42,"list":[1,"two",3.5,false,{"x":"y"}],"negative":-7,"nested":{"a":{"b":"c","n":1}},"string":"naïve ✓","true":true}
bool(true)
properties amqplib has: content_type content_encoding application_headers delivery_mode priority correlation_id reply_to expiration message_id timestamp type user_id app_id
-- array body, persistent true
{"a":1,"b":[true,null]}
application/json m-2 2
-- no properties: persistent by default, nothing else
string(0) ""
array(1) {
  ["delivery_mode"]=>
  int(2)
}
NULL
