--TEST--
DqFfi\Producer: bad options, bodies, properties, batch items, delays, timeouts and topology options, and the broker's refusals, throw what dq.so throws: same class, code and message
--EXTENSIONS--
ffi
--SKIPIF--
<?php require __DIR__ . '/inc.php'; dq_ffi_skipif(); ?>
--FILE--
<?php
require __DIR__ . '/inc.php';
$vhost = new TestVhost('ffi-producer-bad');
$code = <<<'PHP'
    function attempt(string $what, callable $fn): void
    {
        echo str_pad($what, 20), ' ';
        try {
            $result = $fn();
            echo 'ok', $result === null ? '' : ' ' . json_encode($result), "\n";
        } catch (Throwable $e) {
            echo get_class($e), '(', $e->getCode(), '): ', preg_replace('/dqphpt-[A-Za-z0-9-]+/', 'VHOST', $e->getMessage()), "\n";
        }
    }
    $producer = new $Producer(['amqp' => $url]);
    $producer->declareQueue('q');
    echo "-- options\n";
    attempt('unknown option', fn () => new $Producer(['amqp' => $url, 'ampq' => 1]));
    attempt('timeout "x"', fn () => new $Producer(['timeout' => 'x']));
    attempt('timeout 0', fn () => new $Producer(['timeout' => 0]));
    attempt('timeout NAN', fn () => new $Producer(['timeout' => NAN]));
    attempt('confirm "yes"', fn () => new $Producer(['confirm' => 'yes']));
    attempt('amqp 5', fn () => new $Producer(['amqp' => 5]));
    attempt('amqp http://', fn () => new $Producer(['amqp' => 'http://x']));
    attempt('prefix "a b"', fn () => new $Producer(['prefix' => 'a b']));
    attempt('client options', fn () => (bool) new $Producer(['amqp' => $url, 'redis' => 'x', 'body_limit' => 3]));
    attempt('broker down', fn () => (new $Producer(['amqp' => 'amqp://guest:guest@127.0.0.1:' . $closed . '/%2f', 'timeout' => 0.5]))->publish('', 'q', 'x'));
    echo "-- publish\n";
    attempt('priority 300', fn () => $producer->publish('', 'q', 'x', ['priority' => 300]));
    attempt('unknown property', fn () => $producer->publish('', 'q', 'x', ['messageId' => 'x']));
    attempt('properties list', fn () => $producer->publish('', 'q', 'x', ['a', 'b']));
    attempt('headers "x"', fn () => $producer->publish('', 'q', 'x', ['headers' => 'x']));
    attempt('headers NAN', fn () => $producer->publish('', 'q', 'x', ['headers' => ['x' => NAN]]));
    attempt('body NAN', fn () => $producer->publish('', 'q', ['x' => NAN]));
    attempt('body not UTF-8', fn () => $producer->publish('', 'q', ['x' => ['y' => "\xff"]]));
    attempt('body 5', fn () => $producer->publish('', 'q', 5));
    attempt('body null', fn () => $producer->publish('', 'q', null));
    attempt('body 1.5', fn () => $producer->publish('', 'q', 1.5));
    attempt('user_id', fn () => $producer->publish('', 'q', 'x', ['user_id' => 'someone-else']));
    attempt('missing exchange', fn () => $producer->publish('no.such', 'k', 'x'));
    attempt('unroutable', fn () => $producer->publish('amq.direct', 'nobody', 'x', ['mandatory' => true]));
    echo "-- publishDelayed\n";
    attempt('delay -1', fn () => $producer->publishDelayed('', 'q', 'x', -1));
    attempt('delay NAN', fn () => $producer->publishDelayed('', 'q', 'x', NAN));
    attempt('delay INF', fn () => $producer->publishDelayed('', 'q', 'x', INF));
    attempt('delay 1e12', fn () => $producer->publishDelayed('', 'q', 'x', 1e12));
    attempt('delay 30 days + 1ms', fn () => $producer->publishDelayed('', 'q', 'x', 30 * 24 * 3600 + 0.001));
    // A TypeError as PHP throws for any float parameter (its wording is the engine's, not dq's).
    attempt('delay "soon"', function () use ($producer) {
        try {
            $producer->publishDelayed('', 'q', 'x', 'soon');
        } catch (TypeError $e) {
            return get_class($e) . ' naming $delay: ' . var_export(str_contains($e->getMessage(), 'delay'), true);
        }
    });
    attempt('delayed body null', fn () => $producer->publishDelayed('', 'q', null, 0.01));
    echo "-- publishBatch\n";
    $good = ['routing_key' => 'q', 'body' => 'good'];
    foreach ([
        'no body' => [$good, ['routing_key' => 'q']],
        'unknown key' => [$good, $good, ['routing_key' => 'q', 'body' => 'b', 'priority' => 1]],
        'bad property' => [$good, ['body' => 'b', 'properties' => ['priority' => 300]]],
        'unknown property' => [$good, ['body' => 'b', 'properties' => ['messageId' => 'x']]],
        'properties list' => [$good, ['body' => 'b', 'properties' => [1, 2]]],
        'not an array' => [$good, 'just a body'],
        'body 1.5' => [$good, ['body' => 1.5]],
        'body NAN' => [$good, ['body' => [NAN]]],
        'routing key 5' => [['routing_key' => 5, 'body' => 'b']],
        'named item' => ['first' => $good, 'second' => ['body' => null]],
        'named, broker' => ['first' => $good, 'second' => ['routing_key' => 'nobody', 'body' => 'b', 'properties' => ['mandatory' => true]]],
    ] as $what => $batch) {
        attempt("batch $what", fn () => $producer->publishBatch('', $batch));
    }
    attempt('batch to no.such', fn () => $producer->publishBatch('no.such', [['body' => 'x']]));
    attempt('batch unroutable', fn () => $producer->publishBatch('amq.direct', [['routing_key' => 'q', 'body' => 'x'], ['routing_key' => 'nobody', 'body' => 'x', 'properties' => ['mandatory' => true]]]));
    echo "-- call\n";
    attempt('timeout 0', fn () => $producer->call('', 'q', 'x', 0));
    attempt('timeout 3601', fn () => $producer->call('', 'q', 'x', 3601));
    attempt('body null', fn () => $producer->call('', 'q', null));
    attempt('unroutable', fn () => $producer->call('amq.direct', 'nobody', 'x', 1.0));
    echo "-- topology\n";
    attempt('exchange durabel', fn () => $producer->declareExchange('ex.x', 'direct', ['durabel' => true]));
    attempt('exchange amq.custom', fn () => $producer->declareExchange('amq.custom'));
    attempt('exchange ""', fn () => $producer->declareExchange(''));
    attempt('exchange options list', fn () => $producer->declareExchange('ex.y', 'direct', [true]));
    attempt('queue exclusiv', fn () => $producer->declareQueue('q.x', ['exclusiv' => true]));
    attempt('queue durable "yes"', fn () => $producer->declareQueue('q.x', ['durable' => 'yes']));
    attempt('queue arguments "x"', fn () => $producer->declareQueue('q.x', ['arguments' => 'x-max-priority']));
    attempt('queue arguments NAN', fn () => $producer->declareQueue('q.x', ['arguments' => ['x-y' => NAN]]));
    attempt('queue passive', fn () => $producer->declareQueue('no.such', ['passive' => true]));
    attempt('queue amq.custom', fn () => $producer->declareQueue('amq.custom'));
    attempt('bind to no.such', fn () => $producer->bindQueue('q', 'no.such', 'k'));
    attempt('bind arguments list', fn () => $producer->bindQueue('q', 'amq.direct', 'k', [1]));
    attempt('exchange type bogus', fn () => $producer->declareExchange('ex.bogus', 'bogus'));
    attempt('still working', fn () => $producer->publish('', 'q', 'after all that'));
    PHP;
dq_ffi_show_same(dq_ffi_and_ext($code, ['url' => $vhost->url(), 'closed' => dq_closed_port()]));
echo json_encode(dq_list_queues($vhost)), "\n";
?>
--EXPECTF--
-- options
unknown option       Dq\InvalidArgumentException(2): unknown option "ampq" (options: amqp, prefix, timeout, amqp_queue_type, confirm)
timeout "x"          Dq\InvalidArgumentException(2): options['timeout'] "x" is a string: expected seconds
timeout 0            Dq\InvalidArgumentException(2): options['timeout']: timeout 0 is invalid: expected seconds above 0 and at most 3600
timeout NAN          Dq\InvalidArgumentException(2): options['timeout']: timeout NaN is invalid: expected seconds above 0 and at most 3600
confirm "yes"        Dq\InvalidArgumentException(2): options['confirm'] "yes" is a string: expected true or false
amqp 5               Dq\InvalidArgumentException(2): options['amqp'] 5 is an int: expected a string
amqp http://         Dq\InvalidArgumentException(2): RabbitMQ URL "http://x" is invalid (Invalid AMQP scheme: http): expected amqp://user:password@host:5672/vhost
prefix "a b"         Dq\InvalidArgumentException(2): prefix "a b" is invalid: expected 1 to 64 characters of A-Z a-z 0-9 _ . : -
client options       ok true
broker down          Dq\ConnectionException(4): cannot connect: RabbitMQ at amqp://guest:***@127.0.0.1:%d/%s: IO error: Connection refused (os error 111)
-- publish
priority 300         Dq\InvalidArgumentException(2): properties: priority 300 is invalid: expected an integer from 0 to 255
unknown property     Dq\InvalidArgumentException(2): properties: unknown property "messageId": expected one of message_id, correlation_id, reply_to, content_type, content_encoding, type, app_id, user_id, priority, expiration, timestamp, headers, persistent, delivery_mode, mandatory
properties list      Dq\InvalidArgumentException(2): properties must be an array of name => value, not a list
headers "x"          Dq\InvalidArgumentException(2): properties: headers is a string: expected an array of name => value
headers NAN          Dq\InvalidArgumentException(2): properties["headers"]["x"]: float NaN cannot be encoded as JSON
body NAN             Dq\InvalidArgumentException(2): body["x"]: float NaN cannot be encoded as JSON
body not UTF-8       Dq\InvalidArgumentException(2): body["x"]["y"]: string is not valid UTF-8
body 5               Dq\InvalidArgumentException(2): body 5 is an int: expected a string, or an array to send as JSON
body null            Dq\InvalidArgumentException(2): body is null: expected a string, or an array to send as JSON
body 1.5             Dq\InvalidArgumentException(2): body 1.5 is a float: expected a string, or an array to send as JSON
user_id              Dq\InvalidArgumentException(2): RabbitMQ at amqp://guest:***@127.0.0.1:5672/VHOST: protocol error: AMQP soft error: PRECONDITION-FAILED: PRECONDITION_FAILED - user_id property set to 'someone-else' but authenticated user was 'guest'
missing exchange     Dq\Exception(6): RabbitMQ at amqp://guest:***@127.0.0.1:5672/VHOST: protocol error: AMQP soft error: NOT-FOUND: NOT_FOUND - no exchange 'no.such' in vhost 'VHOST'
unroutable           Dq\Exception(10): message to exchange "amq.direct" with routing key "nobody" is unroutable: 312 NO_ROUTE (no queue is bound to take it)
-- publishDelayed
delay -1             Dq\InvalidArgumentException(2): delay -1 is out of range: expected seconds from 0 to 2592000 (30 days)
delay NAN            Dq\InvalidArgumentException(2): delay NaN is not a number: expected seconds from 0 to 2592000 (30 days)
delay INF            Dq\InvalidArgumentException(2): delay inf is out of range: expected seconds from 0 to 2592000 (30 days)
delay 1e12           Dq\InvalidArgumentException(2): delay 1000000000000 is out of range: expected seconds from 0 to 2592000 (30 days)
delay 30 days + 1ms  Dq\InvalidArgumentException(2): delay 2592000.001 is out of range: expected seconds from 0 to 2592000 (30 days)
delay "soon"         ok "TypeError naming $delay: true"
delayed body null    Dq\InvalidArgumentException(2): body is null: expected a string, or an array to send as JSON
-- publishBatch
batch no body        Dq\InvalidArgumentException(2): messages[1] has no 'body'
batch unknown key    Dq\InvalidArgumentException(2): messages[2] has unknown key "priority" (keys: routing_key, body, properties)
batch bad property   Dq\InvalidArgumentException(2): messages[1]: properties: priority 300 is invalid: expected an integer from 0 to 255
batch unknown property Dq\InvalidArgumentException(2): messages[1]: properties: unknown property "messageId": expected one of message_id, correlation_id, reply_to, content_type, content_encoding, type, app_id, user_id, priority, expiration, timestamp, headers, persistent, delivery_mode, mandatory
batch properties list Dq\InvalidArgumentException(2): messages[1]: properties must be an array of name => value, not a list
batch not an array   Dq\InvalidArgumentException(2): messages[1] "just a body" is a string: expected ['routing_key' => .., 'body' => .., 'properties' => [..]]
batch body 1.5       Dq\InvalidArgumentException(2): messages[1]: body 1.5 is a float: expected a string, or an array to send as JSON
batch body NAN       Dq\InvalidArgumentException(2): messages[1]: body[0]: float NaN cannot be encoded as JSON
batch routing key 5  Dq\InvalidArgumentException(2): messages[0]['routing_key'] 5 is an int: expected a string
batch named item     Dq\InvalidArgumentException(2): messages["second"]: body is null: expected a string, or an array to send as JSON
batch named, broker  Dq\Exception(10): message to exchange "" with routing key "nobody" is unroutable: 312 NO_ROUTE (no queue is bound to take it) (1 of 2 messages were confirmed)
batch to no.such     Dq\Exception(6): RabbitMQ at amqp://guest:***@127.0.0.1:5672/VHOST: protocol error: AMQP soft error: NOT-FOUND: NOT_FOUND - no exchange 'no.such' in vhost 'VHOST' (0 of 1 messages were confirmed)
batch unroutable     Dq\Exception(10): message to exchange "amq.direct" with routing key "nobody" is unroutable: 312 NO_ROUTE (no queue is bound to take it) (1 of 2 messages were confirmed)
-- call
timeout 0            Dq\InvalidArgumentException(2): timeout: timeout 0 is invalid: expected seconds above 0 and at most 3600
timeout 3601         Dq\InvalidArgumentException(2): timeout: timeout 3601 is invalid: expected seconds above 0 and at most 3600
body null            Dq\InvalidArgumentException(2): body is null: expected a string, or an array to send as JSON
unroutable           Dq\Exception(10): message to exchange "amq.direct" with routing key "nobody" is unroutable: 312 NO_ROUTE (no queue is bound to take it)
-- topology
exchange durabel     Dq\InvalidArgumentException(2): unknown option "durabel": expected durable, auto_delete, internal, passive, arguments
exchange amq.custom  Dq\InvalidArgumentException(2): exchange "amq.custom" cannot be declared: the name is empty or reserved (amq.*)
exchange ""          Dq\InvalidArgumentException(2): exchange "" cannot be declared: the name is empty or reserved (amq.*)
exchange options list Dq\InvalidArgumentException(2): options must be an array of name => value, not a list
queue exclusiv       Dq\InvalidArgumentException(2): unknown option "exclusiv": expected durable, auto_delete, exclusive, passive, arguments
queue durable "yes"  Dq\InvalidArgumentException(2): durable "yes" is invalid: expected true or false
queue arguments "x"  Dq\InvalidArgumentException(2): arguments "x-max-priority" is invalid: expected an array of name => value
queue arguments NAN  Dq\InvalidArgumentException(2): options["arguments"]["x-y"]: float NaN cannot be encoded as JSON
queue passive        Dq\Exception(6): RabbitMQ at amqp://guest:***@127.0.0.1:5672/VHOST: protocol error: AMQP soft error: NOT-FOUND: NOT_FOUND - no queue 'no.such' in vhost 'VHOST'
queue amq.custom     Dq\InvalidArgumentException(2): queue "amq.custom" cannot be declared: amq.* names are reserved for the broker (declare "" to have it name one for you)
bind to no.such      Dq\Exception(6): RabbitMQ at amqp://guest:***@127.0.0.1:5672/VHOST: protocol error: AMQP soft error: NOT-FOUND: NOT_FOUND - no exchange 'no.such' in vhost 'VHOST'
bind arguments list  Dq\InvalidArgumentException(2): arguments must be an array of name => value, not a list
exchange type bogus  Dq\InvalidArgumentException(2): exchange type "bogus" is unknown: expected direct, fanout, topic, headers or a plugin's x-... type
still working        ok
== the extension printed the same
{"q":{"messages":"4"}}
