--TEST--
Dq\Consumer and Dq\Delivery: prefetch, nack with and without requeue (dead-lettering), ack once, unacked deliveries back on destroy, next() timeout, missing queue
--EXTENSIONS--
dq
amqp
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$vhost = new TestVhost('consumer');
$url = $vhost->url();
$producer = new Dq\Producer(['amqp' => $url]);

echo "-- prefetch 2, nothing acked: a second consumer gets the rest\n";
$producer->declareQueue('window');
for ($i = 0; $i < 6; $i++) {
    $producer->publish('', 'window', "w$i");
}
$first = new Dq\Consumer('window', ['amqp' => $url, 'prefetch' => 2]);
$held = [$first->next(1.0), $first->next(1.0)];
echo 'first holds: ', $held[0]->body(), ' ', $held[1]->body(), "\n";
[$none, $elapsed] = dq_timed(fn () => $first->next(0.3));
echo 'first gets no third: ', var_export($none, true), ' after 0.3 s: ', var_export($elapsed >= 0.29 && $elapsed < 0.8, true), "\n";
$second = new Dq\Consumer('window', ['amqp' => $url]);
$bodies = [];
for ($i = 0; $i < 4; $i++) {
    $delivery = $second->next(1.0);
    $bodies[] = $delivery->body();
    $delivery->ack();
}
echo 'second gets: ', implode(' ', $bodies), ' and no more: ', var_export($second->next(0.1), true), "\n";

echo "-- unset with unacked deliveries: they go back to the queue once the deliveries are gone too\n";
unset($first);
echo 'while held: ', var_export($second->next(0.3), true), "\n";
unset($held);
foreach ([1, 2] as $n) {
    $delivery = $second->next(1.0);
    echo $delivery->body(), ' redelivered: ', var_export($delivery->redelivered(), true), "\n";
    $delivery->ack();
}

echo "-- ack once\n";
$producer->publish('', 'window', 'once');
$delivery = $second->next(1.0);
$delivery->ack();
foreach (['ack', 'nack'] as $again) {
    try {
        $delivery->$again();
    } catch (Dq\InvalidArgumentException $e) {
        dq_show($e);
    }
}
var_dump($second->next(0.1));

echo "-- nack(true): back to the queue, redelivered\n";
$producer->publish('', 'window', 'again');
$delivery = $second->next(1.0);
echo $delivery->body(), ' redelivered: ', var_export($delivery->redelivered(), true), "\n";
$delivery->nack(true);
$delivery = $second->next(1.0);
echo $delivery->body(), ' redelivered: ', var_export($delivery->redelivered(), true), "\n";
$delivery->ack();

echo "-- nack(false): to the dead-letter exchange\n";
$producer->declareQueue('dead');
$producer->declareQueue('work', ['arguments' => ['x-dead-letter-exchange' => '', 'x-dead-letter-routing-key' => 'dead']]);
$producer->publish('', 'work', 'poison', ['message_id' => 'p-1']);
$producer->publish('', 'work', 'dropped by default');
$work = new Dq\Consumer('work', ['amqp' => $url]);
$work->next(1.0)->nack(false);
$work->next(1.0)->nack();
var_dump($work->next(0.1));
$dead = new Dq\Consumer('dead', ['amqp' => $url]);
foreach ([1, 2] as $n) {
    $delivery = $dead->next(1.0);
    $properties = $delivery->properties();
    echo $delivery->body(), ' | ', $properties['message_id'] ?? '-', ' | ', $properties['headers']['x-first-death-reason'], ' from ', $properties['headers']['x-first-death-queue'], "\n";
    $delivery->ack();
}

echo "-- next() on an empty queue\n";
foreach ([0.0, 0.2] as $wait) {
    [$result, $elapsed] = dq_timed(fn () => $dead->next($wait));
    echo "next($wait): ", var_export($result, true), ', waited about that long: ', var_export($elapsed >= $wait - 0.01 && $elapsed < $wait + 0.3, true), "\n";
}

echo "-- routingKey(), exchange(), binary body\n";
$producer->declareQueue('routed');
$producer->bindQueue('routed', 'amq.topic', 'orders.*.paid');
$producer->publish('amq.topic', 'orders.eu.paid', "\x00\xff\x00 bytes");
$producer->publish('', 'routed', '');
$routed = new Dq\Consumer('routed', ['amqp' => $url]);
foreach ([1, 2] as $n) {
    $delivery = $routed->next(1.0);
    echo json_encode($delivery->exchange()), ' ', json_encode($delivery->routingKey()), ' ', bin2hex($delivery->body()), ' redelivered: ', var_export($delivery->redelivered(), true), "\n";
    $delivery->ack();
}

echo "-- a missing queue\n";
$missing = new Dq\Consumer('no.such.queue', ['amqp' => $url]);
foreach ([1, 2] as $n) {
    try {
        $missing->next(0.2);
    } catch (Dq\Exception $e) {
        dq_show($e);
    }
}
$producer->declareQueue('no.such.queue');
$producer->publish('', 'no.such.queue', 'there now');
echo $missing->next(1.0)->body(), "\n";

echo "-- the queue deleted under the consumer, then declared again\n";
$doomed = new AMQPQueue(dq_pecl_amqp($vhost));
$doomed->setName('no.such.queue');
$doomed->delete();
foreach ([1, 2] as $n) {
    try {
        var_dump($missing->next(0.2));
    } catch (Dq\Exception $e) {
        dq_show($e);
    }
}
$producer->declareQueue('no.such.queue');
$producer->publish('', 'no.such.queue', 'back again');
echo $missing->next(1.0)->body(), "\n";
?>
--EXPECTF--
-- prefetch 2, nothing acked: a second consumer gets the rest
first holds: w0 w1
first gets no third: NULL after 0.3 s: true
second gets: w2 w3 w4 w5 and no more: NULL
-- unset with unacked deliveries: they go back to the queue once the deliveries are gone too
while held: NULL
w0 redelivered: true
w1 redelivered: true
-- ack once
Dq\InvalidArgumentException(2): cannot ack: the delivery was already acked or nacked
Dq\InvalidArgumentException(2): cannot nack: the delivery was already acked or nacked
NULL
-- nack(true): back to the queue, redelivered
again redelivered: false
again redelivered: true
-- nack(false): to the dead-letter exchange
NULL
poison | p-1 | rejected from work
dropped by default | - | rejected from work
-- next() on an empty queue
next(0): NULL, waited about that long: true
next(0.2): NULL, waited about that long: true
-- routingKey(), exchange(), binary body
"amq.topic" "orders.eu.paid" 00ff00206279746573 redelivered: false
"" "routed"  redelivered: false
-- a missing queue
Dq\Exception(6): RabbitMQ at %s: protocol error: AMQP soft error: NOT-FOUND: NOT_FOUND - no queue 'no.such.queue' in vhost '%s'
Dq\Exception(6): RabbitMQ at %s: protocol error: AMQP soft error: NOT-FOUND: NOT_FOUND - no queue 'no.such.queue' in vhost '%s'
there now
-- the queue deleted under the consumer, then declared again
Dq\ConnectionException(4): the broker cancelled the consumer of queue "no.such.queue" (deleted, or the connection closed)
Dq\Exception(6): RabbitMQ at %s: protocol error: AMQP soft error: NOT-FOUND: NOT_FOUND - no queue 'no.such.queue' in vhost '%s'
back again
