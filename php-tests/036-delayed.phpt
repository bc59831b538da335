--TEST--
Dq\Producer::publishDelayed: each message arrives not before its delay and within 1 s after, in due order, through TTL queues named after (delay, target)
--EXTENSIONS--
dq
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$vhost = new TestVhost('delayed');
$producer = new Dq\Producer(['amqp' => $vhost->url(), 'prefix' => 'later']);
$producer->declareQueue('due');
$producer->bindQueue('due', 'amq.direct', 'due.key');
$consumer = new Dq\Consumer('due', ['amqp' => $vhost->url()]);

echo "-- several delays at once\n";
$published = [];
foreach ([[0.3, 'a'], [1.2, 'b'], [0.6, 'c'], [2, 'd'], [0.6, 'e'], [0.3, 'f']] as [$delay, $name]) {
    $published[$name] = [$delay, microtime(true)];
    $producer->publishDelayed('amq.direct', 'due.key', "$name after $delay s", $delay, ['message_id' => $name, 'headers' => ['mine' => $name]]);
}
// And one through the default exchange, straight to the queue.
$published['g'] = [0.9, microtime(true)];
$producer->publishDelayed('', 'due', 'g after 0.9 s', 0.9, ['message_id' => 'g']);
echo 'publishing took < 0.5 s: ', var_export(microtime(true) - $published['a'][1] < 0.5, true), "\n";

$order = [];
$deadline = microtime(true) + 4;
while (count($order) < count($published) && microtime(true) < $deadline) {
    $delivery = $consumer->next(0.5);
    if ($delivery === null) {
        continue;
    }
    $arrived = microtime(true);
    $properties = $delivery->properties();
    $name = $properties['message_id'];
    [$delay, $sent] = $published[$name];
    $late = $arrived - $sent - $delay;
    $order[] = $name;
    printf("%s: %s | via %s %s | not early: %s | less than 1 s late: %s | own header kept: %s\n", $name, $delivery->body(),
        $delivery->exchange() ?: '(default)', $delivery->routingKey(),
        var_export($late >= 0, true), var_export($late < 1.0, true),
        var_export(($properties['headers']['mine'] ?? $name) === $name, true));
    $delivery->ack();
}
echo 'order: ', implode(' ', $order), "\n";

echo "-- the delay queues\n";
foreach (dq_list_queues($vhost, ['arguments', 'durable']) as $name => $queue) {
    echo "$name durable={$queue['durable']} {$queue['arguments']}\n";
}

echo "-- delay 0 is immediate\n";
$started = microtime(true);
$producer->publishDelayed('amq.direct', 'due.key', 'now', 0);
$delivery = $consumer->next(1.0);
echo $delivery->body(), ' within 0.3 s: ', var_export(microtime(true) - $started < 0.3, true), "\n";
$delivery->ack();
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
var_dump($consumer->next(0.2));
?>
--EXPECTF--
-- several delays at once
publishing took < 0.5 s: true
a: a after 0.3 s | via amq.direct due.key | not early: true | less than 1 s late: true | own header kept: true
f: f after 0.3 s | via amq.direct due.key | not early: true | less than 1 s late: true | own header kept: true
c: c after 0.6 s | via amq.direct due.key | not early: true | less than 1 s late: true | own header kept: true
e: e after 0.6 s | via amq.direct due.key | not early: true | less than 1 s late: true | own header kept: true
g: g after 0.9 s | via (default) due | not early: true | less than 1 s late: true | own header kept: true
b: b after 1.2 s | via amq.direct due.key | not early: true | less than 1 s late: true | own header kept: true
d: d after 2 s | via amq.direct due.key | not early: true | less than 1 s late: true | own header kept: true
order: a f c e g b d
-- the delay queues
due durable=true []
later.delay.1200ms.amq.direct.due.key durable=true [{"x-dead-letter-exchange","amq.direct"},{"x-dead-letter-routing-key","due.key"},{"x-expires",601200},{"x-message-ttl",1200}]
later.delay.2000ms.amq.direct.due.key durable=true [{"x-dead-letter-exchange","amq.direct"},{"x-dead-letter-routing-key","due.key"},{"x-expires",602000},{"x-message-ttl",2000}]
later.delay.300ms.amq.direct.due.key durable=true [{"x-dead-letter-exchange","amq.direct"},{"x-dead-letter-routing-key","due.key"},{"x-expires",600300},{"x-message-ttl",300}]
later.delay.600ms.amq.direct.due.key durable=true [{"x-dead-letter-exchange","amq.direct"},{"x-dead-letter-routing-key","due.key"},{"x-expires",600600},{"x-message-ttl",600}]
later.delay.900ms.amq.default.due durable=true [{"x-dead-letter-exchange",%s},{"x-dead-letter-routing-key","due"},{"x-expires",600900},{"x-message-ttl",900}]
-- delay 0 is immediate
now within 0.3 s: true
no new queue: true
-- bad delays
Dq\InvalidArgumentException(2): delay -1 is out of range: expected seconds from 0 to 2592000 (30 days)
Dq\InvalidArgumentException(2): delay -0.001 is out of range: expected seconds from 0 to 2592000 (30 days)
Dq\InvalidArgumentException(2): delay NaN is not a number: expected seconds from 0 to 2592000 (30 days)
Dq\InvalidArgumentException(2): delay inf is out of range: expected seconds from 0 to 2592000 (30 days)
Dq\InvalidArgumentException(2): delay 1000000000000 is out of range: expected seconds from 0 to 2592000 (30 days)
Dq\InvalidArgumentException(2): delay 2592000.001 is out of range: expected seconds from 0 to 2592000 (30 days)
NULL
