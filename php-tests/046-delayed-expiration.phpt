--TEST--
Dq\Producer::publishDelayed with an expiration shorter than the delay: the message does not arrive before its delay (or the call is refused)
--EXTENSIONS--
dq
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$vhost = new TestVhost('delayed-expiration');
$url = $vhost->url();
$producer = new Dq\Producer(['amqp' => $url]);
$producer->declareQueue('due');
$consumer = new Dq\Consumer('due', ['amqp' => $url]);
$sent = microtime(true);
try {
    $producer->publishDelayed('', 'due', 'later', 1.0, ['expiration' => '100']);   // 1 s; expiration is AMQP's, in ms
    $delivery = $consumer->next(2.0);
    $waited = microtime(true) - $sent;
    echo 'arrived: ', var_export($delivery !== null, true), ', not before its delay: ', var_export($waited >= 1.0, true), "\n";
} catch (Dq\InvalidArgumentException $e) {
    echo 'refused, naming expiration: ', var_export(str_contains($e->getMessage(), 'expiration'), true), "\n";
}
?>
--EXPECTREGEX--
^(arrived: true, not before its delay: true|refused, naming expiration: true)$
