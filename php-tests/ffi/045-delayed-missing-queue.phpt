--TEST--
DqFfi\Producer::publishDelayed through the default exchange to a queue that does not exist throws code 6 naming the queue, as dq.so does; once declared, the message arrives
--EXTENSIONS--
ffi
mbstring
sockets
--SKIPIF--
<?php require __DIR__ . '/inc.php'; dq_ffi_skipif(); ?>
--FILE--
<?php
require __DIR__ . '/inc.php';
$code = <<<'PHP'
    $vhost = new TestVhost('ffi-delayed-missing-queue');
    $producer = new $Producer(['amqp' => $vhost->url()]);
    try {
        $producer->publishDelayed('', 'order.check', ['order' => 42], 30);   // the README's example
        echo "published\n";
    } catch (Dq\Exception $e) {
        echo get_class($e), '(', $e->getCode(), '): ', str_replace([$vhost->name, rawurlencode($vhost->name)], 'VHOST', $e->getMessage()), "\n";
    }
    $producer->declareQueue('order.check');
    $producer->publishDelayed('', 'order.check', ['order' => 42], 0.3);
    $channel = dq_amqplib($vhost)->channel();
    $deadline = microtime(true) + 3;
    while (($message = $channel->basic_get('order.check', true)) === null && microtime(true) < $deadline) {
        usleep(20_000);
    }
    echo 'arrived: ', $message?->getBody(), "\n";
    PHP;
dq_ffi_show_same(dq_ffi_and_ext($code));
?>
--EXPECTF--
Dq\Exception(6): queue "order.check" does not exist (RabbitMQ at amqp://guest:***@127.0.0.1:5672/VHOST: %sNOT_FOUND - no queue 'order.check' in vhost 'VHOST'): a delayed message to the default exchange goes to the queue its routing key names, and would be dropped when due; declare the queue first (declareQueue)
arrived: {"order":42}
== the extension printed the same
