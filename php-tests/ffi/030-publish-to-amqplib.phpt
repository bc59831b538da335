--TEST--
DqFfi\Producer -> php-amqplib: body and every property (headers of every type included) arrive intact, and exactly as dq.so sends them
--EXTENSIONS--
ffi
mbstring
sockets
--SKIPIF--
<?php require __DIR__ . '/inc.php'; dq_ffi_skipif(); ?>
--FILE--
<?php
require __DIR__ . '/inc.php';
$vhost = new TestVhost('ffi-to-amqplib');
// The same messages published by $Producer to $queue: by DqFfi\Producer here, by Dq\Producer in a dq.so process.
$code = <<<'PHP'
    $producer = new $Producer(['amqp' => $url]);
    $producer->declareQueue($queue);
    $headers = [
        'string' => 'naïve ✓', 'int' => 42, 'negative' => -7, 'big' => PHP_INT_MAX, 'float' => 1.5, 'true' => true, 'false' => false,
        'nested' => ['a' => ['b' => 'c', 'n' => 1]], 'list' => [1, 'two', 3.5, false, ['x' => 'y']],
    ];
    $properties = [
        'message_id' => 'm-1', 'correlation_id' => 'c-1', 'reply_to' => 'replies', 'content_type' => 'text/plain',
        'content_encoding' => 'utf-8', 'type' => 'order.paid', 'app_id' => 'shop', 'user_id' => 'guest', 'priority' => 7,
        'expiration' => '60000', 'timestamp' => 1800000000, 'headers' => $headers, 'persistent' => false,
    ];
    $producer->publish('', $queue, "text \x00\xff\r\n ✓", $properties);
    $producer->publish('', $queue, ['a' => 1, 'b' => [true, null], 'f' => 1.0, 'u' => 'é/"', 'o' => ['z' => 1, 'a' => []]], ['message_id' => 'm-2', 'persistent' => true]);
    $producer->publish('', $queue, '');
    $producer->publish('', $queue, (object) ['object' => 'body', 'n' => [1]], ['content_type' => 'application/x-mine']);
    echo $producer->publishBatch('', [
        ['routing_key' => $queue, 'body' => 'batch text', 'properties' => ['message_id' => 'b-1', 'headers' => $headers]],
        ['routing_key' => $queue, 'body' => ['batch' => ['json', 2.5]]],
    ]), " in the batch\n";
    PHP;
echo dq_ffi_run($code, ['url' => $vhost->url(), 'queue' => 'from-ffi']);
echo dq_ffi_ext_run($code, ['url' => $vhost->url(), 'queue' => 'from-dq.so', 'Producer' => 'Dq\Producer']);

$connection = dq_amqplib($vhost);
$channel = $connection->channel();
/** A message as text: body (hex when binary), then each property, headers as JSON. */
function shown(?PhpAmqpLib\Message\AMQPMessage $message): string
{
    if ($message === null) {
        return "(none)\n";
    }
    $body = $message->getBody();
    $out = 'body: ' . (preg_match('//u', $body) && !preg_match('/[\x00-\x1f]/', $body) ? $body : 'hex ' . bin2hex($body)) . "\n";
    foreach ($message->get_properties() as $name => $value) {
        $value = $name === 'application_headers' ? dq_ksort_deep($value->getNativeData()) : $value;
        $out .= "  $name: " . json_encode($value, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES | JSON_PRESERVE_ZERO_FRACTION) . "\n";
    }
    return $out;
}
for ($i = 1; $i <= 7; $i++) {
    $ffi = shown($channel->basic_get('from-ffi', true));
    $ext = shown($channel->basic_get('from-dq.so', true));
    echo $ffi, $ffi === $ext ? "  == as from dq.so\n" : "  != from dq.so:\n$ext";
}
$channel->close();
$connection->close();
?>
--EXPECT--
2 in the batch
2 in the batch
body: hex 746578742000ff0d0a20e29c93
  content_type: "text/plain"
  content_encoding: "utf-8"
  application_headers: {"big":9223372036854775807,"false":false,"float":1.5,"int":42,"list":[1,"two",3.5,false,{"x":"y"}],"negative":-7,"nested":{"a":{"b":"c","n":1}},"string":"naïve ✓","true":true}
  delivery_mode: 1
  priority: 7
  correlation_id: "c-1"
  reply_to: "replies"
  expiration: "60000"
  message_id: "m-1"
  timestamp: 1800000000
  type: "order.paid"
  user_id: "guest"
  app_id: "shop"
  == as from dq.so
body: {"a":1,"b":[true,null],"f":1.0,"u":"é/\"","o":{"z":1,"a":[]}}
  content_type: "application/json"
  delivery_mode: 2
  message_id: "m-2"
  == as from dq.so
body: 
  delivery_mode: 2
  == as from dq.so
body: {"object":"body","n":[1]}
  content_type: "application/x-mine"
  delivery_mode: 2
  == as from dq.so
body: batch text
  application_headers: {"big":9223372036854775807,"false":false,"float":1.5,"int":42,"list":[1,"two",3.5,false,{"x":"y"}],"negative":-7,"nested":{"a":{"b":"c","n":1}},"string":"naïve ✓","true":true}
  delivery_mode: 2
  message_id: "b-1"
  == as from dq.so
body: {"batch":["json",2.5]}
  content_type: "application/json"
  delivery_mode: 2
  == as from dq.so
(none)
  == as from dq.so
