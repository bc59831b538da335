--TEST--
Dq\Producer::publishDelayed through the default exchange to a queue that does not exist (the README's example) throws code 6 naming the queue, rather than losing the message when it is due; once declared, the message arrives
--EXTENSIONS--
dq
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$vhost = new TestVhost('delayed-missing-queue');
$producer = new Dq\Producer(['amqp' => $vhost->url()]);
foreach ([30, 0.3] as $delay) {
    try {
        $producer->publishDelayed('', 'order.check', ['order' => 42], $delay);   // the README's example
        echo "delay $delay: published\n";
    } catch (Dq\Exception $e) {
        echo "delay $delay: ";
        dq_show($e);
    }
}
try {
    $producer->publishDelayed('', '', 'to nobody', 0.3);
} catch (Dq\Exception $e) {
    dq_show($e);
}
echo "-- declared, it arrives after its delay\n";
$producer->declareQueue('order.check');
$started = microtime(true);
$producer->publishDelayed('', 'order.check', ['order' => 42], 0.3);
$consumer = new Dq\Consumer('order.check', ['amqp' => $vhost->url()]);
$delivery = $consumer->next(3.0);
$after = microtime(true) - $started;
echo $delivery?->body(), ' after its delay: ', var_export($after >= 0.3 && $after < 1.3, true), "\n";
$delivery?->ack();
echo 'queues (no delay queue was made for the refused messages): ', implode(', ', array_keys(dq_list_queues($vhost))), "\n";
?>
--EXPECTF--
delay 30: Dq\Exception(6): queue "order.check" does not exist (RabbitMQ at amqp://guest:***@127.0.0.1:5672/%s: %sNOT_FOUND - no queue 'order.check' in vhost '%s'): a delayed message to the default exchange goes to the queue its routing key names, and would be dropped when due; declare the queue first (declareQueue)
delay 0.3: Dq\Exception(6): queue "order.check" does not exist %s
Dq\Exception(6): queue "" does not exist (the routing key is empty, and no queue has an empty name): %s
-- declared, it arrives after its delay
{"order":42} after its delay: true
queues (no delay queue was made for the refused messages): dq.delay.300ms.amq.default.order.check, order.check
