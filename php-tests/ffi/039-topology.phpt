--TEST--
DqFfi\Producer topology: declareExchange (types, options, arguments), declareQueue (server-named, priority, quorum, TTL), bindQueue (routing keys, headers), refusals
--EXTENSIONS--
ffi
mbstring
sockets
--SKIPIF--
<?php require __DIR__ . '/inc.php'; dq_ffi_skipif(); ?>
--FILE--
<?php
require __DIR__ . '/inc.php';
$vhost = new TestVhost('ffi-topology');
$url = $vhost->url();
$producer = new DqFfi\Producer(['amqp' => $url]);

/** Runs $fn; prints what it returned or threw. */
function attempt(callable $fn): void
{
    try {
        $result = $fn();
        echo 'ok', $result === null ? '' : ' ' . json_encode($result), "\n";
    } catch (Throwable $e) {
        dq_show($e);
    }
}

/** The bodies of the $n messages in $queue, taken from it (php-amqplib), and '(no more)' if it is then empty. */
function take(string $url, string $queue, int $n = 1): string
{
    global $vhost;
    static $channel = null;
    $channel ??= dq_amqplib($vhost)->channel();
    $bodies = [];
    for ($i = 0; $i < $n && ($message = dq_ffi_amqplib_get($channel, $queue, 2.0)); $i++) {
        $bodies[] = $message->getBody();
    }
    $bodies[] = $channel->basic_get($queue, true) === null ? '(no more)' : '(MORE)';
    return implode(' ', $bodies);
}

echo "-- exchanges\n";
attempt(fn () => $producer->declareExchange('ex.direct'));
attempt(fn () => $producer->declareExchange('ex.fanout', 'fanout', ['durable' => false, 'auto_delete' => true]));
attempt(fn () => $producer->declareExchange('ex.internal', 'topic', ['internal' => true]));
attempt(fn () => $producer->declareExchange('ex.topic', 'topic'));
attempt(fn () => $producer->declareExchange('ex.headers', 'headers', ['arguments' => ['alternate-exchange' => 'ex.fanout']]));
attempt(fn () => $producer->declareExchange('ex.direct', 'direct', ['passive' => true]));
attempt(fn () => $producer->declareExchange('ex.direct'));
$lines = explode("\n", dq_rabbitmqctl(['list_exchanges', '-p', $vhost->name, '--no-table-headers', 'name', 'type', 'durable', 'auto_delete', 'internal', 'arguments']));
$lines = array_filter($lines, fn ($line) => str_starts_with($line, 'ex.'));
sort($lines);
echo implode("\n", $lines), "\n";

echo "-- queues\n";
$generated = $producer->declareQueue('', ['exclusive' => true, 'durable' => false]);
echo 'server-named: ', preg_replace('/^amq\.gen-[A-Za-z0-9_-]{22}$/', 'amq.gen-<22 characters>', $generated), "\n";
attempt(fn () => $producer->declareQueue('prio', ['arguments' => ['x-max-priority' => 10]]));
attempt(fn () => $producer->declareQueue('quorum', ['arguments' => ['x-queue-type' => 'quorum']]));
attempt(fn () => $producer->declareQueue('ttl', ['durable' => false, 'auto_delete' => false, 'arguments' => ['x-message-ttl' => 100]]));
attempt(fn () => $producer->declareQueue('prio', ['passive' => true]));
foreach (dq_list_queues($vhost, ['type', 'durable', 'exclusive', 'arguments']) as $name => $queue) {
    echo $name === $generated ? 'amq.gen-...' : $name, ' ', implode(' ', $queue), "\n";
}

echo "-- priority, TTL, quorum at work\n";
foreach ([1, 9, 5, 0] as $priority) {
    $producer->publish('', 'prio', "p$priority", ['priority' => $priority]);
}
echo take($url, 'prio', 4), "\n";
$producer->publish('', 'ttl', 'expires');
usleep(200000);
echo 'after its TTL: ', take($url, 'ttl', 0), "\n";
$producer->publish('', 'quorum', 'in a quorum queue');
echo take($url, 'quorum'), "\n";

echo "-- bindings\n";
foreach (['direct' => ['a', 'b'], 'topic' => ['orders.#', '*.paid']] as $type => $keys) {
    $producer->declareQueue("bound.$type");
    foreach ($keys as $key) {
        $producer->bindQueue("bound.$type", "ex.$type", $key);
    }
}
$producer->declareQueue('bound.all');
$producer->declareQueue('bound.any');
$producer->bindQueue('bound.all', 'ex.headers', '', ['x-match' => 'all', 'kind' => 'order', 'n' => 1]);
$producer->bindQueue('bound.any', 'ex.headers', '', ['x-match' => 'any', 'kind' => 'order', 'n' => 1]);
$producer->declareQueue('alternate');
$producer->bindQueue('alternate', 'ex.fanout');
foreach ([['ex.direct', 'a'], ['ex.direct', 'b'], ['ex.topic', 'orders.eu.new'], ['ex.topic', 'refunds.paid']] as [$exchange, $key]) {
    $producer->publish($exchange, $key, "$exchange $key", ['mandatory' => true]);
}
$producer->publish('ex.headers', '', 'kind and n', ['headers' => ['kind' => 'order', 'n' => 1], 'mandatory' => true]);
$producer->publish('ex.headers', '', 'kind only', ['headers' => ['kind' => 'order'], 'mandatory' => true]);
$producer->publish('ex.headers', '', 'neither: to the alternate exchange', ['headers' => ['kind' => 'refund'], 'mandatory' => true]);
foreach (['bound.direct' => 2, 'bound.topic' => 2, 'bound.all' => 1, 'bound.any' => 2, 'alternate' => 1] as $queue => $n) {
    echo "$queue: ", take($url, $queue, $n), "\n";
}
attempt(fn () => $producer->publish('ex.direct', 'c', 'no binding', ['mandatory' => true]));
$lines = explode("\n", dq_rabbitmqctl(['list_bindings', '-p', $vhost->name, '--no-table-headers', 'source_name', 'destination_name', 'routing_key', 'arguments']));
$lines = array_filter($lines, fn ($line) => str_starts_with($line, 'ex.'));
sort($lines);
echo implode("\n", $lines), "\n";

echo "-- refused by the broker; the producer keeps working\n";
attempt(fn () => $producer->declareQueue('prio', ['arguments' => ['x-max-priority' => 5]]));
attempt(fn () => $producer->declareQueue('prio', ['durable' => false, 'arguments' => ['x-max-priority' => 10]]));
attempt(fn () => $producer->declareExchange('ex.direct', 'fanout'));
attempt(fn () => $producer->declareQueue('quorum.transient', ['durable' => false, 'arguments' => ['x-queue-type' => 'quorum']]));
attempt(fn () => $producer->declareQueue('no.such.queue', ['passive' => true]));
attempt(fn () => $producer->declareExchange('no.such.exchange', 'direct', ['passive' => true]));
attempt(fn () => $producer->bindQueue('prio', 'no.such.exchange', 'k'));
attempt(fn () => $producer->bindQueue('no.such.queue', 'ex.direct', 'k'));
attempt(fn () => $producer->publish('ex.internal', 'k', 'to an internal exchange'));
// An unknown exchange type (refused by dq: the broker would close the whole connection).
attempt(fn () => $producer->declareExchange('ex.bogus', 'bogus'));
$producer->publish('', 'prio', 'still working', ['priority' => 3]);
echo take($url, 'prio'), "\n";
// The connection was not closed: the exclusive server-named queue is still there.
attempt(fn () => $producer->declareQueue($generated, ['passive' => true]) === $generated);

echo "-- refused by dq\n";
attempt(fn () => $producer->declareExchange('ex.x', 'direct', ['durabel' => true, 'internal' => false]));
attempt(fn () => $producer->declareQueue('q.x', ['exclusiv' => true]));
attempt(fn () => $producer->declareQueue('q.x', ['durable' => 'yes']));
attempt(fn () => $producer->declareQueue('q.x', ['arguments' => 'x-max-priority']));
attempt(fn () => $producer->declareExchange('amq.custom'));
attempt(fn () => $producer->declareExchange('amq.direct'));
attempt(fn () => $producer->declareExchange(''));
try {
    $producer->declareQueue('amq.custom');
    echo "declared amq.custom\n";
} catch (Dq\Exception $e) {
    echo 'queue amq.custom refused, named: ', var_export(str_contains($e->getMessage(), 'amq.custom'), true), "\n";
}
?>
--EXPECTF--
-- exchanges
ok
ok
ok
ok
ok
ok
ok
ex.direct	direct	true	false	false	[]
ex.fanout	fanout	false	true	false	[]
ex.headers	headers	true	false	false	[{"alternate-exchange","ex.fanout"}]
ex.internal	topic	true	false	true	[]
ex.topic	topic	true	false	false	[]
-- queues
server-named: amq.gen-<22 characters>
ok "prio"
ok "quorum"
ok "ttl"
ok "prio"
amq.gen-... classic false true []
prio classic true false [{"x-max-priority",10}]
quorum quorum true  [{"x-queue-type","quorum"}]
ttl classic false false [{"x-message-ttl",100}]
-- priority, TTL, quorum at work
p9 p5 p1 p0 (no more)
after its TTL: (no more)
in a quorum queue (no more)
-- bindings
bound.direct: ex.direct a ex.direct b (no more)
bound.topic: ex.topic orders.eu.new ex.topic refunds.paid (no more)
bound.all: kind and n (no more)
bound.any: kind and n kind only (no more)
alternate: neither: to the alternate exchange (no more)
Dq\Exception(10): message to exchange "ex.direct" with routing key "c" is unroutable: 312 NO_ROUTE (no queue is bound to take it)
ex.direct	bound.direct	a	[]
ex.direct	bound.direct	b	[]
ex.fanout	alternate		[]
ex.headers	bound.all		[{"kind","order"},{"n",1},{"x-match","all"}]
ex.headers	bound.any		[{"kind","order"},{"n",1},{"x-match","any"}]
ex.topic	bound.topic	*.paid	[]
ex.topic	bound.topic	orders.#	[]
-- refused by the broker; the producer keeps working
Dq\InvalidArgumentException(2): RabbitMQ at %s: protocol error: AMQP soft error: PRECONDITION-FAILED: PRECONDITION_FAILED - inequivalent arg 'x-max-priority' for queue 'prio' in vhost '%s': received '5' but current is '10'
Dq\InvalidArgumentException(2): RabbitMQ at %s: protocol error: AMQP soft error: PRECONDITION-FAILED: PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'prio' in vhost '%s': received 'false' but current is 'true'
Dq\InvalidArgumentException(2): RabbitMQ at %s: protocol error: AMQP soft error: PRECONDITION-FAILED: PRECONDITION_FAILED - inequivalent arg 'type' for exchange 'ex.direct' in vhost '%s': received 'fanout' but current is 'direct'
Dq\InvalidArgumentException(2): RabbitMQ at %s: protocol error: AMQP soft error: PRECONDITION-FAILED: PRECONDITION_FAILED - invalid property 'non-durable' for queue 'quorum.transient' in vhost '%s'
Dq\Exception(6): RabbitMQ at %s: protocol error: AMQP soft error: NOT-FOUND: NOT_FOUND - no queue 'no.such.queue' in vhost '%s'
Dq\Exception(6): RabbitMQ at %s: protocol error: AMQP soft error: NOT-FOUND: NOT_FOUND - no exchange 'no.such.exchange' in vhost '%s'
Dq\Exception(6): RabbitMQ at %s: protocol error: AMQP soft error: NOT-FOUND: NOT_FOUND - no exchange 'no.such.exchange' in vhost '%s'
Dq\Exception(6): RabbitMQ at %s: protocol error: AMQP soft error: NOT-FOUND: NOT_FOUND - no queue 'no.such.queue' in vhost '%s'
Dq\Exception(8): RabbitMQ at %s: protocol error: AMQP soft error: ACCESS-REFUSED: ACCESS_REFUSED - cannot publish to internal exchange 'ex.internal' in vhost '%s'
Dq\InvalidArgumentException(2): exchange type "bogus" is unknown: expected direct, fanout, topic, headers or a plugin's x-... type
still working (no more)
ok true
-- refused by dq
Dq\InvalidArgumentException(2): unknown option "durabel": expected durable, auto_delete, internal, passive, arguments
Dq\InvalidArgumentException(2): unknown option "exclusiv": expected durable, auto_delete, exclusive, passive, arguments
Dq\InvalidArgumentException(2): durable "yes" is invalid: expected true or false
Dq\InvalidArgumentException(2): arguments "x-max-priority" is invalid: expected an array of name => value
Dq\InvalidArgumentException(2): exchange "amq.custom" cannot be declared: the name is empty or reserved (amq.*)
Dq\InvalidArgumentException(2): exchange "amq.direct" cannot be declared: the name is empty or reserved (amq.*)
Dq\InvalidArgumentException(2): exchange "" cannot be declared: the name is empty or reserved (amq.*)
queue amq.custom refused, named: true
