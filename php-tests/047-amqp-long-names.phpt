--TEST--
Dq\Producer, Dq\Consumer: exchange, queue and routing key names over AMQP's 255 bytes throw Dq\InvalidArgumentException naming the length, not an internal error
--EXTENSIONS--
dq
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$vhost = new TestVhost('amqp-long-names');
$url = $vhost->url();
$producer = new Dq\Producer(['amqp' => $url]);
$producer->declareQueue('q');
$long = str_repeat('n', 300);
$operations = [
    'publish exchange' => fn () => $producer->publish($long, 'k', 'x'),
    'publish routing key' => fn () => $producer->publish('', $long, 'x'),
    'publishBatch routing key' => fn () => $producer->publishBatch('', [['routing_key' => $long, 'body' => 'x']]),
    'publishDelayed routing key' => fn () => $producer->publishDelayed('amq.direct', $long, 'x', 0.1),
    'call routing key' => fn () => $producer->call('', $long, 'x', 0.5),
    'declareExchange' => fn () => $producer->declareExchange($long),
    'declareQueue' => fn () => $producer->declareQueue($long),
    'bindQueue queue' => fn () => $producer->bindQueue($long, 'amq.direct', 'k'),
    'bindQueue routing key' => fn () => $producer->bindQueue('q', 'amq.direct', $long),
    'Consumer queue' => fn () => (new Dq\Consumer($long, ['amqp' => $url]))->next(0.1),
];
foreach ($operations as $name => $operation) {
    try {
        $operation();
        echo "$name: accepted\n";
    } catch (Throwable $e) {
        echo "$name: ", get_class($e), '(', $e->getCode(), ') names the length: ', var_export(str_contains($e->getMessage(), '300') && str_contains($e->getMessage(), '255'), true), "\n";
    }
}
$producer->publish('', 'q', 'still fine');
echo "the producer still works\n";
?>
--EXPECT--
publish exchange: Dq\InvalidArgumentException(2) names the length: true
publish routing key: Dq\InvalidArgumentException(2) names the length: true
publishBatch routing key: Dq\InvalidArgumentException(2) names the length: true
publishDelayed routing key: Dq\InvalidArgumentException(2) names the length: true
call routing key: Dq\InvalidArgumentException(2) names the length: true
declareExchange: Dq\InvalidArgumentException(2) names the length: true
declareQueue: Dq\InvalidArgumentException(2) names the length: true
bindQueue queue: Dq\InvalidArgumentException(2) names the length: true
bindQueue routing key: Dq\InvalidArgumentException(2) names the length: true
Consumer queue: Dq\InvalidArgumentException(2) names the length: true
the producer still works
