--TEST--
Dq\Producer publishing on the calling thread: bodies of every size (one frame, several frames) read intact by php-amqplib; one connection per process whether it only publishes or also consumes and calls; batches split over writes; a channel refusal and the next publish
--EXTENSIONS--
dq
mbstring
sockets
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$vhost = new TestVhost('publish-connection');
$me = 'dq:' . getmypid();
$producer = new Dq\Producer(['amqp' => $vhost->url()]);
$producer->declareExchange('orders', 'direct');
$producer->declareQueue('inbox');
$producer->bindQueue('inbox', 'orders', 'k');

echo "-- bodies around the frame size (131,072 bytes, 8 of them the frame's own)\n";
$sizes = [0, 1, 131064, 131065, 131072, 262129, 1048576 * 3 + 5];
$bodies = [];
foreach ($sizes as $size) {
    $bodies[$size] = $size === 0 ? '' : random_bytes($size);
    $producer->publish('orders', 'k', $bodies[$size], ['message_id' => "size-$size"]);
}
$amqplib = dq_amqplib($vhost);
$channel = $amqplib->channel();
foreach ($sizes as $size) {
    $message = $channel->basic_get('inbox', true);
    printf("%d bytes: %s %s\n", $size, $message->get('message_id'), $message->getBody() === $bodies[$size] ? 'intact' : 'DIFFERENT');
}

echo "-- a batch larger than one write, bodies of 100 KiB\n";
$batch = [];
for ($i = 0; $i < 40; $i++) {
    $batch[] = ['routing_key' => 'k', 'body' => str_repeat(chr(65 + $i % 26), 100 * 1024), 'properties' => ['message_id' => "b-$i"]];
}
var_dump($producer->publishBatch('orders', $batch));
$ok = true;
for ($i = 0; $i < 40; $i++) {
    $message = $channel->basic_get('inbox', true);
    $ok = $ok && $message->get('message_id') === "b-$i" && $message->getBody() === $batch[$i]['body'];
}
echo 'in order and intact: ', json_encode($ok), "\n";

echo "-- a publish-only process: one connection\n";
echo 'connections: ', dq_amqp_connections($vhost, $me), "\n";

echo "-- a refusal closes the channel; the next publish opens it again\n";
try {
    $producer->publish('no.such.exchange', 'k', 'lost');
} catch (Dq\Exception $e) {
    dq_show($e);
}
$producer->publish('orders', 'k', 'after the refusal');
try {
    $producer->publishBatch('orders', [['routing_key' => 'k', 'body' => 'a'], ['routing_key' => 'nobody', 'body' => 'b', 'properties' => ['mandatory' => true]], ['routing_key' => 'k', 'body' => 'c']]);
} catch (Dq\Exception $e) {
    dq_show($e);
}
$plain = new Dq\Producer(['amqp' => $vhost->url(), 'confirm' => false]);
$plain->publish('orders', 'k', 'unconfirmed');
$producer->declareQueue('inbox', ['passive' => true]);
foreach (['after the refusal', 'a', 'c', 'unconfirmed'] as $expected) {
    $message = $channel->basic_get('inbox', true);
    echo $message?->getBody() === $expected ? "got: $expected\n" : 'MISSING: ' . $expected . "\n";
}
echo 'connections: ', dq_amqp_connections($vhost, $me), "\n";

echo "-- the process consumes: still one connection, and publishing goes on\n";
$consumer = new Dq\Consumer('inbox', ['amqp' => $vhost->url()]);
var_dump($consumer->next(0.2));
echo 'connections: ', dq_amqp_connections($vhost, $me), "\n";
$producer->publish('orders', 'k', 'on the shared connection');
$producer->declareQueue('inbox');
$delivery = $consumer->next(5.0);
echo $delivery->body(), "\n";
$delivery->ack();
echo 'connections: ', dq_amqp_connections($vhost, $me), "\n";

echo "-- an exclusive queue lives on the connection the process consumes on\n";
$own = $producer->declareQueue('', ['exclusive' => true, 'durable' => false]);
$producer->publish('', $own, 'to my own queue');
$mine = new Dq\Consumer($own, ['amqp' => $vhost->url()]);
echo $mine->next(5.0)->body(), "\n";
echo 'connections: ', dq_amqp_connections($vhost, $me), "\n";

$channel->close();
$amqplib->close();
?>
--EXPECTF--
-- bodies around the frame size (131,072 bytes, 8 of them the frame's own)
0 bytes: size-0 intact
1 bytes: size-1 intact
131064 bytes: size-131064 intact
131065 bytes: size-131065 intact
131072 bytes: size-131072 intact
262129 bytes: size-262129 intact
3145733 bytes: size-3145733 intact
-- a batch larger than one write, bodies of 100 KiB
int(40)
in order and intact: true
-- a publish-only process: one connection
connections: 1
-- a refusal closes the channel; the next publish opens it again
Dq\Exception(6): RabbitMQ at %s: protocol error: AMQP soft error: NOT-FOUND: NOT_FOUND - no exchange 'no.such.exchange' in vhost '%s'
Dq\Exception(10): message to exchange "orders" with routing key "nobody" is unroutable: 312 NO_ROUTE (no queue is bound to take it) (2 of 3 messages were confirmed)
got: after the refusal
got: a
got: c
got: unconfirmed
connections: 1
-- the process consumes: still one connection, and publishing goes on
NULL
connections: 1
on the shared connection
connections: 1
-- an exclusive queue lives on the connection the process consumes on
to my own queue
connections: 1
