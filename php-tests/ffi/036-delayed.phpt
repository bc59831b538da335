--TEST--
DqFfi\Producer::publishDelayed: each message arrives, not before its delay, through TTL queues named after (delay, target), read by php-amqplib
--EXTENSIONS--
ffi
mbstring
sockets
--SKIPIF--
<?php require __DIR__ . '/inc.php'; dq_ffi_skipif(); ?>
--FILE--
<?php
require __DIR__ . '/inc.php';
$vhost = new TestVhost('ffi-delayed');
$producer = new DqFfi\Producer(['amqp' => $vhost->url(), 'prefix' => 'later']);
$producer->declareQueue('due');
$producer->bindQueue('due', 'amq.direct', 'due.key');
$connection = dq_amqplib($vhost);
$channel = $connection->channel();

echo "-- several delays at once\n";
$published = [];
foreach ([[300, 'a'], [1200, 'b'], [600, 'c'], [2000, 'd'], [600, 'e'], [300, 'f']] as [$delay, $name]) {
    $published[$name] = [$delay, microtime(true)];
    $producer->publishDelayed('amq.direct', 'due.key', "$name after $delay ms", $delay, ['message_id' => $name, 'headers' => ['mine' => $delay]]);
}
// And one through the default exchange, straight to the queue.
$published['g'] = [900, microtime(true)];
$producer->publishDelayed('', 'due', 'g after 900 ms', 900, ['message_id' => 'g']);

$arrived = [];
$deadline = microtime(true) + 10;
while (count($arrived) < count($published) && microtime(true) < $deadline) {
    $message = $channel->basic_get('due', true);
    if ($message === null) {
        usleep(20000);
        continue;
    }
    $name = $message->get('message_id');
    [$delay, $sent] = $published[$name];
    $headers = $message->has('application_headers') ? $message->get('application_headers')->getNativeData() : [];
    $arrived[$name] = sprintf('%s: %s | via %s %s | not early: %s | own header kept: %s', $name, $message->getBody(),
        $message->getExchange() ?: '(default)', $message->getRoutingKey(),
        var_export(microtime(true) - $sent >= $delay / 1000, true), var_export(($headers['mine'] ?? $delay) === $delay, true));
}
ksort($arrived);
echo implode("\n", $arrived), "\n";

echo "-- the delay queues\n";
foreach (dq_list_queues($vhost, ['arguments', 'durable']) as $name => $queue) {
    echo "$name durable={$queue['durable']} {$queue['arguments']}\n";
}

echo "-- delay 0 goes straight to the exchange\n";
$producer->publishDelayed('amq.direct', 'due.key', 'now', 0);
echo dq_ffi_amqplib_get($channel, 'due')?->getBody(), "\n";
echo 'no new queue: ', var_export(count(dq_list_queues($vhost)) === 6, true), "\n";

echo "-- bad delays\n";
foreach ([-1, PHP_INT_MIN, 30 * 24 * 3600 * 1000 + 1] as $delay) {
    try {
        $producer->publishDelayed('amq.direct', 'due.key', 'never', $delay);
        echo "$delay: published\n";
    } catch (Throwable $e) {
        dq_show($e);
    }
}
var_dump($channel->basic_get('due', true));
$channel->close();
$connection->close();
?>
--EXPECTF--
-- several delays at once
a: a after 300 ms | via amq.direct due.key | not early: true | own header kept: true
b: b after 1200 ms | via amq.direct due.key | not early: true | own header kept: true
c: c after 600 ms | via amq.direct due.key | not early: true | own header kept: true
d: d after 2000 ms | via amq.direct due.key | not early: true | own header kept: true
e: e after 600 ms | via amq.direct due.key | not early: true | own header kept: true
f: f after 300 ms | via amq.direct due.key | not early: true | own header kept: true
g: g after 900 ms | via (default) due | not early: true | own header kept: true
-- the delay queues
due durable=true []
later.delay.1200ms.amq.direct.due.key durable=true [{"x-dead-letter-exchange","amq.direct"},{"x-dead-letter-routing-key","due.key"},{"x-expires",601200},{"x-message-ttl",1200}]
later.delay.2000ms.amq.direct.due.key durable=true [{"x-dead-letter-exchange","amq.direct"},{"x-dead-letter-routing-key","due.key"},{"x-expires",602000},{"x-message-ttl",2000}]
later.delay.300ms.amq.direct.due.key durable=true [{"x-dead-letter-exchange","amq.direct"},{"x-dead-letter-routing-key","due.key"},{"x-expires",600300},{"x-message-ttl",300}]
later.delay.600ms.amq.direct.due.key durable=true [{"x-dead-letter-exchange","amq.direct"},{"x-dead-letter-routing-key","due.key"},{"x-expires",600600},{"x-message-ttl",600}]
later.delay.900ms.amq.default.due durable=true [{"x-dead-letter-exchange",%s},{"x-dead-letter-routing-key","due"},{"x-expires",600900},{"x-message-ttl",900}]
-- delay 0 goes straight to the exchange
now
no new queue: true
-- bad delays
Dq\InvalidArgumentException(2): delayMs -1 is negative: expected milliseconds from 0
Dq\InvalidArgumentException(2): delayMs -9223372036854775808 is negative: expected milliseconds from 0
Dq\InvalidArgumentException(2): delay of 2592000001 ms is over the longest delay of 2592000000 ms (30 days)
NULL
