--TEST--
Dq\Consumer: a message whose message_id is not UTF-8 (AMQP short strings are bytes) is delivered like any other and does not break the consumer
--EXTENSIONS--
dq
amqp
--XFAIL--
lapin parses short strings as UTF-8: the frame fails to parse ("failed to parse", code 7), the connection drops, the message before it cannot be acked, and every consumer of the queue fails the same way forever
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$vhost = new TestVhost('amqp-non-utf8-property');
$url = $vhost->url();
(new Dq\Producer(['amqp' => $url]))->declareQueue('inbox');
$exchange = new AMQPExchange(dq_pecl_amqp($vhost));
$exchange->publish('before', 'inbox', AMQP_NOPARAM, ['message_id' => 'plain']);
$exchange->publish('binary id', 'inbox', AMQP_NOPARAM, ['message_id' => "\xfe\xff-id", 'headers' => ['bin' => "\x00\xff"]]);
$exchange->publish('after', 'inbox', AMQP_NOPARAM, ['message_id' => 'plain']);

$consumer = new Dq\Consumer('inbox', ['amqp' => $url, 'timeout' => 1.0]);
$bodies = [];
for ($attempt = 0; $attempt < 4 && count($bodies) < 3; $attempt++) {
    try {
        $delivery = $consumer->next(1.0);
        if ($delivery === null) {
            continue;
        }
        $bodies[] = $delivery->body();
        echo $delivery->body(), ': message_id ', bin2hex($delivery->properties()['message_id'] ?? ''), "\n";
        $delivery->ack();
    } catch (Dq\Exception $e) {
        dq_show($e);
    }
}
unset($consumer);
echo 'left in the queue: ', dq_list_queues($vhost)['inbox']['messages'], "\n";
?>
--EXPECT--
before: message_id 706c61696e
binary id: message_id feff2d6964
after: message_id 706c61696e
left in the queue: 0
