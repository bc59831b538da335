--TEST--
Dq\Producer properties: an empty headers array is no headers; publishBatch refuses a 'properties' that is not an array, naming the item
--EXTENSIONS--
dq
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$vhost = new TestVhost('amqp-properties-edge-cases');
$url = $vhost->url();
$producer = new Dq\Producer(['amqp' => $url]);
$producer->declareQueue('q');

echo "-- 'headers' => []\n";
foreach (['publish' => fn () => $producer->publish('', 'q', 'empty headers', ['headers' => []]),
          'publishBatch' => fn () => $producer->publishBatch('', [['routing_key' => 'q', 'body' => 'empty headers', 'properties' => ['headers' => []]]])] as $name => $publish) {
    try {
        $publish();
        echo "$name: accepted\n";
    } catch (Dq\Exception $e) {
        echo "$name: "; dq_show($e);
    }
}

echo "-- a batch item's properties not an array\n";
foreach (['x', 5, true] as $properties) {
    try {
        $producer->publishBatch('', [['routing_key' => 'q', 'body' => 'bad properties', 'properties' => $properties]]);
        echo json_encode($properties), ": published\n";
    } catch (Dq\InvalidArgumentException $e) {
        echo json_encode($properties), ': refused, naming the item: ', var_export(str_contains($e->getMessage(), "messages[0]") && str_contains($e->getMessage(), 'properties'), true), "\n";
    }
}

echo "-- the queue\n";
$consumer = new Dq\Consumer('q', ['amqp' => $url]);
while ($delivery = $consumer->next(0.2)) {
    echo $delivery->body(), ' ', json_encode($delivery->properties()), "\n";
    $delivery->ack();
}
?>
--EXPECT--
-- 'headers' => []
publish: accepted
publishBatch: accepted
-- a batch item's properties not an array
"x": refused, naming the item: true
5: refused, naming the item: true
true: refused, naming the item: true
-- the queue
empty headers {"delivery_mode":2,"persistent":true}
empty headers {"delivery_mode":2,"persistent":true}
