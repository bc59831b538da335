--TEST--
Dq\Producer::publishDelayed takes seconds, as every delay in dq: 1.5 is 1.5 s (not 1.5 ms), 0.25 is 250 ms, sub-millisecond fractions round; NaN, infinities, negatives and over 30 days are refused naming the value; a delay that is not a number is a TypeError
--EXTENSIONS--
dq
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$vhost = new TestVhost('delayed-seconds');
$producer = new Dq\Producer(['amqp' => $vhost->url()]);
$producer->declareQueue('due');
$consumer = new Dq\Consumer('due', ['amqp' => $vhost->url()]);

echo "-- 1.5 is seconds\n";
$sent = microtime(true);
$producer->publishDelayed('', 'due', 'after 1.5 s', 1.5);
$early = $consumer->next(max(0.0, 1.0 - (microtime(true) - $sent)));
echo 'absent at 1.0 s: ', var_export($early === null, true), "\n";
$delivery = $consumer->next(2.0);
$waited = microtime(true) - $sent;
echo $delivery?->body(), ' | present by 3 s: ', var_export($delivery !== null && $waited < 3.0, true),
    ' | not before 1.5 s: ', var_export($waited >= 1.5, true), "\n";
$delivery?->ack();

echo "-- a float: 0.25 (named argument \$delay)\n";
$sent = microtime(true);
$producer->publishDelayed('', 'due', 'after 0.25 s', delay: 0.25);
$delivery = $consumer->next(3.0);
$waited = microtime(true) - $sent;
echo $delivery?->body(), ' | not before 0.25 s: ', var_export($waited >= 0.25, true), ' | within 2 s: ', var_export($waited < 2.0, true), "\n";
$delivery?->ack();

echo "-- an int is seconds too; a fraction under a millisecond rounds to 0: published at once\n";
$sent = microtime(true);
$producer->publishDelayed('', 'due', 'rounded to 0', 0.0004);
$delivery = $consumer->next(1.0);
echo $delivery?->body(), ' | within 0.5 s: ', var_export(microtime(true) - $sent < 0.5, true), "\n";
$delivery?->ack();
$producer->publishDelayed('', 'due', 'after 2 s', 2);
echo "-- the delay queues, named in milliseconds\n";
echo implode("\n", array_keys(dq_list_queues($vhost))), "\n";

echo "-- bad delays\n";
foreach ([-1, -0.0001, NAN, INF, -INF, 1e12, 1e99, 30 * 24 * 3600 + 0.001] as $delay) {
    try {
        $producer->publishDelayed('', 'due', 'never', $delay);
        echo "$delay: published\n";
    } catch (Throwable $e) {
        dq_show($e);
    }
}
echo "-- not a number\n";
foreach (['soon', [1.5]] as $delay) {
    try {
        $producer->publishDelayed('', 'due', 'never', $delay);
        echo "published\n";
    } catch (TypeError $e) {
        echo get_class($e), ' naming $delay: ', var_export(str_contains($e->getMessage(), 'delay'), true), "\n";
    }
}
echo "-- 30 days is the longest\n";
$producer->publishDelayed('', 'due', 'in 30 days', 30 * 24 * 3600);
echo "published\n";
$delivery = $consumer->next(2.5);
echo $delivery?->body(), "\n";
$delivery?->ack();
var_dump($consumer->next(0.2));
?>
--EXPECT--
-- 1.5 is seconds
absent at 1.0 s: true
after 1.5 s | present by 3 s: true | not before 1.5 s: true
-- a float: 0.25 (named argument $delay)
after 0.25 s | not before 0.25 s: true | within 2 s: true
-- an int is seconds too; a fraction under a millisecond rounds to 0: published at once
rounded to 0 | within 0.5 s: true
-- the delay queues, named in milliseconds
dq.delay.1500ms.amq.default.due
dq.delay.2000ms.amq.default.due
dq.delay.250ms.amq.default.due
due
-- bad delays
Dq\InvalidArgumentException(2): delay -1 is out of range: expected seconds from 0 to 2592000 (30 days)
Dq\InvalidArgumentException(2): delay -0.0001 is out of range: expected seconds from 0 to 2592000 (30 days)
Dq\InvalidArgumentException(2): delay NaN is not a number: expected seconds from 0 to 2592000 (30 days)
Dq\InvalidArgumentException(2): delay inf is out of range: expected seconds from 0 to 2592000 (30 days)
Dq\InvalidArgumentException(2): delay -inf is out of range: expected seconds from 0 to 2592000 (30 days)
Dq\InvalidArgumentException(2): delay 1000000000000 is out of range: expected seconds from 0 to 2592000 (30 days)
Dq\InvalidArgumentException(2): delay 1e99 is out of range: expected seconds from 0 to 2592000 (30 days)
Dq\InvalidArgumentException(2): delay 2592000.001 is out of range: expected seconds from 0 to 2592000 (30 days)
-- not a number
TypeError naming $delay: true
TypeError naming $delay: true
-- 30 days is the longest
published
after 2 s
NULL
