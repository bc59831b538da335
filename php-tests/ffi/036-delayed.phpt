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
foreach ([[0.3, 'a'], [1.2, 'b'], [0.6, 'c'], [2, 'd'], [0.6, 'e'], [0.3, 'f']] as [$delay, $name]) {
    $published[$name] = [$delay, microtime(true)];
    $producer->publishDelayed('amq.direct', 'due.key', "$name after $delay s", $delay, ['message_id' => $name, 'headers' => ['mine' => $name]]);
}
// And one through the default exchange, straight to the queue.
$published['g'] = [0.9, microtime(true)];
$producer->publishDelayed('', 'due', 'g after 0.9 s', 0.9, ['message_id' => 'g']);

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
        var_export(microtime(true) - $sent >= $delay, true), var_export(($headers['mine'] ?? $name) === $name, true));
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
foreach ([-1, -0.001, NAN, INF, 1e12, 30 * 24 * 3600 + 0.001] as $delay) {
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
a: a after 0.3 s | via amq.direct due.key | not early: true | own header kept: true
b: b after 1.2 s | via amq.direct due.key | not early: true | own header kept: true
c: c after 0.6 s | via amq.direct due.key | not early: true | own header kept: true
d: d after 2 s | via amq.direct due.key | not early: true | own header kept: true
e: e after 0.6 s | via amq.direct due.key | not early: true | own header kept: true
f: f after 0.3 s | via amq.direct due.key | not early: true | own header kept: true
g: g after 0.9 s | via (default) due | not early: true | own header kept: true
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
Dq\InvalidArgumentException(2): delay -1 is out of range: expected seconds from 0 to 2592000 (30 days)
Dq\InvalidArgumentException(2): delay -0.001 is out of range: expected seconds from 0 to 2592000 (30 days)
Dq\InvalidArgumentException(2): delay NaN is not a number: expected seconds from 0 to 2592000 (30 days)
Dq\InvalidArgumentException(2): delay inf is out of range: expected seconds from 0 to 2592000 (30 days)
Dq\InvalidArgumentException(2): delay 1000000000000 is out of range: expected seconds from 0 to 2592000 (30 days)
Dq\InvalidArgumentException(2): delay 2592000.001 is out of range: expected seconds from 0 to 2592000 (30 days)
NULL
