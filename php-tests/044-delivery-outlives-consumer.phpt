--TEST--
Dq\Delivery::ack after its Dq\Consumer is gone: either the ack takes effect, or it throws; it never reports success for a message that goes back to the queue
--EXTENSIONS--
dq
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$vhost = new TestVhost('delivery-outlives-consumer');
$url = $vhost->url();
$producer = new Dq\Producer(['amqp' => $url]);
$producer->declareQueue('inbox');

/** Settles $delivery with $how; prints whether that was consistent with what the queue then holds. */
function check(string $url, Dq\Delivery $delivery, string $how): void
{
    try {
        $how === 'ack' ? $delivery->ack() : $delivery->nack(false);
        $threw = false;
    } catch (Dq\Exception $e) {
        $threw = true;
    }
    $watcher = new Dq\Consumer('inbox', ['amqp' => $url]);
    $back = $watcher->next(0.3);
    $back?->ack();
    echo "$how: ", $threw ? 'threw' : 'returned', ', the message ', $back ? 'came back' : 'is gone', ' -> ', $threw === ($back !== null) ? 'consistent' : 'WRONG', "\n";
}

echo "-- the usual one-liner: the Consumer is a temporary\n";
$producer->publish('', 'inbox', 'one');
$delivery = (new Dq\Consumer('inbox', ['amqp' => $url]))->next(1.0);
echo $delivery->body(), "\n";
check($url, $delivery, 'ack');

echo "-- unset before settling\n";
foreach (['ack', 'nack'] as $how) {
    $producer->publish('', 'inbox', "two $how");
    $consumer = new Dq\Consumer('inbox', ['amqp' => $url]);
    $delivery = $consumer->next(1.0);
    unset($consumer);
    check($url, $delivery, $how);
}
?>
--EXPECTF--
-- the usual one-liner: the Consumer is a temporary
one
ack: %s -> consistent
-- unset before settling
ack: %s -> consistent
nack: %s -> consistent
