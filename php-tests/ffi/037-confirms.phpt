--TEST--
DqFfi\Producer confirms: missing exchange (code 6), unroutable mandatory (code 10), publishBatch of 10,000, bad batch items publish nothing, confirm => false
--EXTENSIONS--
ffi
amqp
--SKIPIF--
<?php require __DIR__ . '/inc.php'; dq_ffi_skipif(); ?>
--FILE--
<?php
require __DIR__ . '/inc.php';
$vhost = new TestVhost('ffi-confirms');
$producer = new DqFfi\Producer(['amqp' => $vhost->url()]);
$producer->declareQueue('bulk');
$producer->declareQueue('checks');
$producer->bindQueue('checks', 'amq.direct', 'checks');
$channel = dq_pecl_amqp($vhost);

/** How many messages $name holds (a passive declare, through pecl amqp). */
function count_of(AMQPChannel $channel, string $name): int
{
    $queue = new AMQPQueue($channel);
    $queue->setName($name);
    $queue->setFlags(AMQP_PASSIVE);
    return $queue->declareQueue();
}

/** The bodies in $name, taken from it. */
function drain(AMQPChannel $channel, string $name): string
{
    $queue = new AMQPQueue($channel);
    $queue->setName($name);
    $bodies = [];
    while ($envelope = $queue->get(AMQP_AUTOACK)) {
        $bodies[] = $envelope->getBody();
    }
    return implode(' ', $bodies);
}

echo "-- a missing exchange\n";
try {
    $producer->publish('no.such.exchange', 'checks', 'lost');
} catch (Dq\Exception $e) {
    dq_show($e);
}
$producer->publish('amq.direct', 'checks', 'after the missing exchange');
echo drain($channel, 'checks'), "\n";

echo "-- unroutable\n";
try {
    $producer->publish('amq.direct', 'nobody', 'lost', ['mandatory' => true]);
} catch (Dq\Exception $e) {
    dq_show($e);
}
$producer->publish('amq.direct', 'nobody', 'dropped quietly', ['mandatory' => false]);
$producer->publish('amq.direct', 'nobody', 'dropped quietly');
$producer->publish('amq.direct', 'checks', 'routable mandatory', ['mandatory' => true]);
echo drain($channel, 'checks'), "\n";

echo "-- the broker refuses a property\n";
try {
    $producer->publish('amq.direct', 'checks', 'lost', ['user_id' => 'someone-else']);
} catch (Dq\Exception $e) {
    dq_show($e);
}
$producer->publish('amq.direct', 'checks', 'after the refusal', ['user_id' => 'guest']);
echo drain($channel, 'checks'), "\n";

echo "-- publishBatch of 10,000\n";
$messages = [];
for ($i = 0; $i < 10000; $i++) {
    $messages[] = ['routing_key' => 'bulk', 'body' => "message $i"] + ($i % 2 ? ['properties' => ['message_id' => "m-$i"]] : []);
}
var_dump($producer->publishBatch('', $messages), count_of($channel, 'bulk'));
echo json_encode(dq_list_queues($vhost)), "\n";
var_dump($producer->publishBatch('', []));

echo "-- a bad item: nothing is published\n";
$good = ['routing_key' => 'bulk', 'body' => 'good'];
$bad = [
    'no body' => [$good, ['routing_key' => 'bulk']],
    'unknown key' => [$good, $good, ['routing_key' => 'bulk', 'body' => 'b', 'priority' => 1]],
    'bad property' => [$good, ['body' => 'b', 'properties' => ['priority' => 300]]],
    'unknown property' => [$good, ['body' => 'b', 'properties' => ['messageId' => 'x']]],
    'not an array' => [$good, 'just a body'],
    'bad body' => [$good, ['body' => 1.5]],
    'bad routing key' => [['routing_key' => 5, 'body' => 'b']],
    'named item' => ['first' => $good, 'second' => ['body' => null]],
];
foreach ($bad as $what => $batch) {
    echo "$what: ";
    try {
        var_dump($producer->publishBatch('', $batch));
    } catch (Dq\InvalidArgumentException $e) {
        dq_show($e);
    }
}
var_dump(count_of($channel, 'bulk'));

echo "-- a batch the broker refuses part of\n";
try {
    $producer->publishBatch('amq.direct', [
        ['routing_key' => 'checks', 'body' => 'one'],
        ['routing_key' => 'nobody', 'body' => 'two', 'properties' => ['mandatory' => true]],
        ['routing_key' => 'checks', 'body' => 'three'],
    ]);
} catch (Dq\Exception $e) {
    dq_show($e);
}
echo drain($channel, 'checks'), "\n";
try {
    $producer->publishBatch('no.such.exchange', [['body' => 'lost']]);
} catch (Dq\Exception $e) {
    dq_show($e);
}

echo "-- confirm => false\n";
$quick = new DqFfi\Producer(['amqp' => $vhost->url(), 'confirm' => false]);
$quick->publish('amq.direct', 'checks', 'unconfirmed');
$quick->publish('', 'checks', ['json' => true]);
var_dump($quick->publishBatch('amq.direct', [['routing_key' => 'checks', 'body' => 'batch 1'], ['routing_key' => 'checks', 'body' => 'batch 2']]));
// Not confirmed: wait until the broker has all four.
dq_ffi_poll(fn () => count_of($channel, 'checks') === 4 ?: null);
echo drain($channel, 'checks'), "\n";
?>
--EXPECTF--
-- a missing exchange
Dq\Exception(6): RabbitMQ at amqp://guest:***@127.0.0.1:5672/dqphpt-ffi-confirms-%s: protocol error: AMQP soft error: NOT-FOUND: NOT_FOUND - no exchange 'no.such.exchange' in vhost 'dqphpt-ffi-confirms-%s'
after the missing exchange
-- unroutable
Dq\Exception(10): message to exchange "amq.direct" with routing key "nobody" is unroutable: 312 NO_ROUTE (no queue is bound to take it)
routable mandatory
-- the broker refuses a property
Dq\InvalidArgumentException(2): RabbitMQ at %s: protocol error: AMQP soft error: PRECONDITION-FAILED: PRECONDITION_FAILED - user_id property set to 'someone-else' but authenticated user was 'guest'
after the refusal
-- publishBatch of 10,000
int(10000)
int(10000)
{"bulk":{"messages":"10000"},"checks":{"messages":"0"}}
int(0)
-- a bad item: nothing is published
no body: Dq\InvalidArgumentException(2): messages[1] has no 'body'
unknown key: Dq\InvalidArgumentException(2): messages[2] has unknown key "priority" (keys: routing_key, body, properties)
bad property: Dq\InvalidArgumentException(2): messages[1]: properties: priority 300 is invalid: expected an integer from 0 to 255
unknown property: Dq\InvalidArgumentException(2): messages[1]: properties: unknown property "messageId": expected one of %s
not an array: Dq\InvalidArgumentException(2): messages[1] "just a body" is a string: expected ['routing_key' => .., 'body' => .., 'properties' => [..]]
bad body: Dq\InvalidArgumentException(2): messages[1]: body 1.5 is a float: expected a string, or an array to send as JSON
bad routing key: Dq\InvalidArgumentException(2): messages[0]['routing_key'] 5 is an int: expected a string
named item: Dq\InvalidArgumentException(2): messages["second"]: body is null: expected a string, or an array to send as JSON
int(10000)
-- a batch the broker refuses part of
Dq\Exception(10): message to exchange "amq.direct" with routing key "nobody" is unroutable: 312 NO_ROUTE (no queue is bound to take it) (2 of 3 messages were confirmed)
one three
Dq\Exception(6): RabbitMQ at %s: protocol error: AMQP soft error: NOT-FOUND: NOT_FOUND - no exchange 'no.such.exchange' in vhost '%s' (0 of 1 messages were confirmed)
-- confirm => false
int(2)
unconfirmed {"json":true} batch 1 batch 2
