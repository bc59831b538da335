--TEST--
Dq\Producer::publishDelayed to a missing exchange throws code 6 naming it, as publish does (rather than losing the message when it is due)
--EXTENSIONS--
dq
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$vhost = new TestVhost('delayed-missing-exchange');
$producer = new Dq\Producer(['amqp' => $vhost->url()]);
foreach ([0, 0.2] as $delay) {
    try {
        $producer->publishDelayed('no.such.exchange', 'k', 'lost?', $delay);
        echo "delay $delay: published\n";
    } catch (Dq\Exception $e) {
        echo "delay $delay: ", get_class($e), '(', $e->getCode(), ') names the exchange: ', var_export(str_contains($e->getMessage(), 'no.such.exchange'), true), "\n";
    }
}
?>
--EXPECT--
delay 0: Dq\Exception(6) names the exchange: true
delay 0.2: Dq\Exception(6) names the exchange: true
