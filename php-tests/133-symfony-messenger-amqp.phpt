--TEST--
Symfony Messenger over dq+amqp:// (Dq\Symfony\DqAmqpTransport, a private vhost): auto_setup declares the exchange, the queue and the binding; a MessageBus publishes, a Worker handles and acks; a DelayStamp goes through publishDelayed; a throwing handler is retried with Messenger's delays and then goes to the failure transport; headers become AMQP headers and content_type; reject and an undecodable message leave the queue; setup(); bad DSNs named
--EXTENSIONS--
dq
--SKIPIF--
<?php
if (!is_file('/usr/share/php/Symfony/Component/Messenger/autoload.php')) {
    echo 'skip php-symfony-messenger is not installed';
}
?>
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
require __DIR__ . '/inc/drivers.inc';
foreach (['Symfony/Component/Messenger', 'Symfony/Component/EventDispatcher', 'Symfony/Component/ErrorHandler', 'Psr/Container'] as $package) {
    require_once "/usr/share/php/$package/autoload.php";
}

use Dq\Symfony\DqAmqpReceivedStamp;
use Dq\Symfony\DqTransportFactory;
use Symfony\Component\EventDispatcher\EventDispatcher;
use Symfony\Component\Messenger\Envelope;
use Symfony\Component\Messenger\Event\WorkerMessageReceivedEvent;
use Symfony\Component\Messenger\Event\WorkerMessageRetriedEvent;
use Symfony\Component\Messenger\EventListener\AddErrorDetailsStampListener;
use Symfony\Component\Messenger\EventListener\SendFailedMessageForRetryListener;
use Symfony\Component\Messenger\EventListener\SendFailedMessageToFailureTransportListener;
use Symfony\Component\Messenger\EventListener\StopWorkerOnMessageLimitListener;
use Symfony\Component\Messenger\EventListener\StopWorkerOnTimeLimitListener;
use Symfony\Component\Messenger\Exception\MessageDecodingFailedException;
use Symfony\Component\Messenger\Handler\HandlersLocator;
use Symfony\Component\Messenger\MessageBus;
use Symfony\Component\Messenger\Middleware\HandleMessageMiddleware;
use Symfony\Component\Messenger\Middleware\SendMessageMiddleware;
use Symfony\Component\Messenger\Retry\MultiplierRetryStrategy;
use Symfony\Component\Messenger\Stamp\DelayStamp;
use Symfony\Component\Messenger\Stamp\ErrorDetailsStamp;
use Symfony\Component\Messenger\Stamp\RedeliveryStamp;
use Symfony\Component\Messenger\Stamp\SentToFailureTransportStamp;
use Symfony\Component\Messenger\Stamp\TransportMessageIdStamp;
use Symfony\Component\Messenger\Transport\Sender\SendersLocator;
use Symfony\Component\Messenger\Transport\Serialization\PhpSerializer;
use Symfony\Component\Messenger\Transport\Serialization\SerializerInterface;
use Symfony\Component\Messenger\Worker;

/** The service locator FrameworkBundle would build (transport name => service). */
final class Locator implements Psr\Container\ContainerInterface
{
    public function __construct(private array $services)
    {
    }

    public function get(string $id): mixed
    {
        return $this->services[$id] ?? throw new LogicException("no service $id");
    }

    public function has(string $id): bool
    {
        return isset($this->services[$id]);
    }
}

final class OrderPlaced
{
    public function __construct(public int $order, public bool $fails = false)
    {
    }
}

/** A serializer with headers, as Symfony's JSON one (symfony/serializer) has, without needing it. */
final class JsonSerializer implements SerializerInterface
{
    public function encode(Envelope $envelope): array
    {
        return ['body' => json_encode(['order' => $envelope->getMessage()->order]), 'headers' => ['type' => OrderPlaced::class, 'Content-Type' => 'application/json']];
    }

    public function decode(array $encodedEnvelope): Envelope
    {
        return new Envelope(new OrderPlaced(json_decode($encodedEnvelope['body'], true)['order']));
    }
}

/**
 * The messages of $queue in the test's vhost (rabbitmqctl), once they are $expected: the broker
 * takes acks without answering, so its counts may lag behind a moment.
 */
function queue_state(string $queue, string $expected): string
{
    global $vhost;
    $state = '';
    dq_eventually(function () use ($queue, $expected, $vhost, &$state) {
        $state = 'no queue';
        foreach (explode("\n", dq_rabbitmqctl(['list_queues', '-p', $vhost->name, '--no-table-headers', 'name', 'messages_ready', 'messages_unacknowledged'])) as $line) {
            $fields = preg_split('/\s+/', trim($line));
            if ($fields[0] === $queue) {
                $state = "$fields[1] ready, $fields[2] unacked";
            }
        }
        return $state === $expected;
    });
    return $state;
}

$vhost = new TestVhost('messenger');
$base = 'dq+amqp://guest:guest@127.0.0.1:5672/' . rawurlencode($vhost->name);
$factory = new DqTransportFactory();
$serializer = new PhpSerializer();
$orders = $factory->createTransport("$base/orders?auto_setup=true&exchange=shop&exchange_type=topic&routing_key=order.placed&block_for=0.3", ['transport_name' => 'async'], $serializer);
$failed = $factory->createTransport("$base/failed?block_for=0.3", ['transport_name' => 'failed', 'auto_setup' => true], $serializer);
echo get_class($orders), "\n";

$seen = [];
$handler = function (OrderPlaced $message) use (&$seen): void {
    $seen[] = $message->order;
    if ($message->fails) {
        throw new RuntimeException("payment service down for order {$message->order}");
    }
};
$bus = new MessageBus([
    new SendMessageMiddleware(new SendersLocator([OrderPlaced::class => ['async']], new Locator(['async' => $orders]))),
    new HandleMessageMiddleware(new HandlersLocator([OrderPlaced::class => [$handler]])),
]);
/** Messenger's consume command, as FrameworkBundle wires it: retries on 'async', failures to 'failed'. */
function work(MessageBus $bus, int $limit, array $listeners = []): void
{
    global $orders, $failed;
    $events = new EventDispatcher();
    $events->addSubscriber(new StopWorkerOnMessageLimitListener($limit));
    $events->addSubscriber(new StopWorkerOnTimeLimitListener(60)); // only if something is broken
    $events->addSubscriber(new AddErrorDetailsStampListener());
    $events->addSubscriber(new SendFailedMessageForRetryListener(new Locator(['async' => $orders]), new Locator(['async' => new MultiplierRetryStrategy(2, 300, 2)]), null, $events));
    $events->addSubscriber(new SendFailedMessageToFailureTransportListener(new Locator(['async' => $failed])));
    foreach ($listeners as $event => $listener) {
        $events->addListener($event, $listener, 200);
    }
    (new Worker(['async' => $orders], $bus, $events))->run(['sleep' => 10000]);
}

echo "-- dispatch: auto_setup declared the topology; messages wait in the queue\n";
$first = $bus->dispatch(new OrderPlaced(1));
$bus->dispatch(new OrderPlaced(2));
$bus->dispatch(new OrderPlaced(4), [new DelayStamp(3600 * 1000)]);
echo 'handled: ', json_encode($seen), '; message id: ', strlen($first->last(TransportMessageIdStamp::class)->getId()), " hex chars\n";
echo 'orders: ', queue_state('orders', '2 ready, 0 unacked'), '; bindings of shop: ', trim(dq_rabbitmqctl(['list_bindings', '-p', $vhost->name, '--no-table-headers', 'source_name', 'destination_name', 'routing_key'])) === '' ? 'none' : implode(', ', array_filter(array_map(fn ($l) => str_starts_with($l, 'shop') ? preg_replace('/\s+/', ' ', $l) : null, explode("\n", dq_rabbitmqctl(['list_bindings', '-p', $vhost->name, '--no-table-headers', 'source_name', 'destination_name', 'routing_key']))))), "\n";

echo "-- a worker handles three and stops; order 3 not before its delay\n";
$dispatchedAt = microtime(true);
$bus->dispatch(new OrderPlaced(3), [new DelayStamp(500)]);
$received = [];
work($bus, 3, [WorkerMessageReceivedEvent::class => function (WorkerMessageReceivedEvent $event) use (&$received, $dispatchedAt) {
    $envelope = $event->getEnvelope();
    $delivery = $envelope->last(DqAmqpReceivedStamp::class)->delivery();
    $order = $envelope->getMessage()->order;
    $received[$order] = sprintf('routing key %s, exchange %s', $delivery->routingKey(), $delivery->exchange())
        . ($order === 3 ? ', not before 0.5 s: ' . var_export(microtime(true) - $dispatchedAt >= 0.45, true) : '');
}]);
sort($seen);
ksort($received);
echo 'handled: ', json_encode($seen), "\n";
foreach ($received as $order => $line) {
    echo "order $order: $line\n";
}
echo 'orders: ', queue_state('orders', '0 ready, 0 unacked'), "\n";

echo "-- a handler that throws: retried after 300 ms then 600 ms, then to the failure transport\n";
$seen = [];
$retries = [];
$bus->dispatch(new OrderPlaced(5, true));
$attempts = [];
work($bus, 3, [
    WorkerMessageRetriedEvent::class => function (WorkerMessageRetriedEvent $event) use (&$retries) {
        $envelope = $event->getEnvelope();
        $retries[] = sprintf('retry %d with a %d ms DelayStamp', $envelope->last(RedeliveryStamp::class)->getRetryCount(), $envelope->last(DelayStamp::class)->getDelay());
    },
    WorkerMessageReceivedEvent::class => function (WorkerMessageReceivedEvent $event) use (&$attempts) {
        $delivery = $event->getEnvelope()->last(DqAmqpReceivedStamp::class)->delivery();
        $attempts[] = sprintf('attempt %d: exchange "%s", routing key %s', count($attempts) + 1, $delivery->exchange(), $delivery->routingKey());
    },
]);
echo 'handled: ', json_encode($seen), "\n", implode("\n", $retries), "\n", implode("\n", $attempts), "\n";
echo 'orders: ', queue_state('orders', '0 ready, 0 unacked'), '; failed: ', queue_state('failed', '1 ready, 0 unacked'), "\n";
$envelope = null;
dq_eventually(function () use ($failed, &$envelope) {
    $envelope = [...$failed->get()][0] ?? null;
    return $envelope !== null;
});
echo get_class($envelope->getMessage()), ' ', $envelope->getMessage()->order, ' from ', $envelope->last(SentToFailureTransportStamp::class)->getOriginalReceiverName(),
    ', error: ', $envelope->last(ErrorDetailsStamp::class)->getExceptionMessage(), "\n";
$failed->ack($envelope);
echo 'failed after ack: ', queue_state('failed', '0 ready, 0 unacked'), "\n";

echo "-- reject: off the queue; an undecodable message: off the queue, MessageDecodingFailedException\n";
$bus->dispatch(new OrderPlaced(6));
$envelope = null;
dq_eventually(function () use ($orders, &$envelope) {
    $envelope = [...$orders->get()][0] ?? null;
    return $envelope !== null;
});
$orders->reject($envelope);
$producer = new Dq\Producer(['amqp' => $vhost->url()]);
$producer->publish('shop', 'order.placed', 'not a serialized envelope');
try {
    dq_eventually(fn () => [...$orders->get()] !== []);
    echo "decoded?\n";
} catch (MessageDecodingFailedException $e) {
    echo get_class($e), ': ', $e->getMessage(), "\n";
}
echo 'orders: ', queue_state('orders', '0 ready, 0 unacked'), "\n";

echo "-- headers: AMQP headers, Content-Type as content_type\n";
$raw = $factory->createTransport("$base/raw?auto_setup=1", [], new JsonSerializer());
$raw->send(new Envelope(new OrderPlaced(7)));
$consumer = new Dq\Consumer('raw', ['amqp' => $vhost->url()]);
$delivery = $consumer->next(5.0);
$properties = $delivery->properties();
echo $delivery->body(), ' ', $properties['content_type'], ' ', json_encode($properties['headers']), ' message_id ', strlen($properties['message_id']), " hex chars\n";
$delivery->nack(true);
unset($delivery, $consumer);
$envelope = null;
dq_eventually(function () use ($raw, &$envelope) {
    $envelope = [...$raw->get()][0] ?? null;
    return $envelope !== null;
});
echo 'received back: order ', $envelope->getMessage()->order, ', id stamp ', strlen($envelope->last(TransportMessageIdStamp::class)->getId()), " hex chars\n";
$raw->ack($envelope);

echo "-- setup() declares; without auto_setup nothing is declared before\n";
$manual = $factory->createTransport("$base/manual?exchange=manual.x&routing_key=k", [], $serializer);
echo 'manual before: ', queue_state('manual', 'no queue'), "\n";
$manual->setup();
$manual->send(new Envelope(new OrderPlaced(8)));
echo 'manual after: ', queue_state('manual', '1 ready, 0 unacked'), "\n";
$unknown = $factory->createTransport("$base/nowhere?exchange=missing.x", [], $serializer);
try {
    $unknown->send(new Envelope(new OrderPlaced(9)));
} catch (Symfony\Component\Messenger\Exception\TransportException $e) {
    echo get_class($e), ' (', get_class($e->getPrevious()), ' code ', $e->getCode(), '): ', str_replace($vhost->name, 'VHOST', $e->getMessage()), "\n";
}

echo "-- bad DSNs\n";
foreach ([
    'dq+amqp://guest:s3cret@127.0.0.1:5672/orders',
    'dq+amqp://default/%2f/orders',
    'dq+amqp://a:5672,b:5672/%2f/orders',
    "$base/orders?auto_setup=maybe",
    "$base/orders?prefetch=0",
    "$base/orders?exchange_typ=topic",
    "$base/orders?exchange[]=x",
    'dq+amqp://guest:s3cret@default/orders',
] as $dsn) {
    try {
        $factory->createTransport($dsn, [], $serializer);
        echo "accepted: $dsn\n";
    } catch (InvalidArgumentException $e) {
        echo get_class($e), ': ', str_replace($vhost->name, 'VHOST', $e->getMessage()), "\n";
    }
}
?>
--EXPECTF--
Dq\Symfony\DqAmqpTransport
-- dispatch: auto_setup declared the topology; messages wait in the queue
handled: []; message id: 32 hex chars
orders: 2 ready, 0 unacked; bindings of shop: shop orders order.placed
-- a worker handles three and stops; order 3 not before its delay
handled: [1,2,3]
order 1: routing key order.placed, exchange shop
order 2: routing key order.placed, exchange shop
order 3: routing key order.placed, exchange shop, not before 0.5 s: true
orders: 0 ready, 0 unacked
-- a handler that throws: retried after 300 ms then 600 ms, then to the failure transport
handled: [5,5,5]
retry 1 with a 300 ms DelayStamp
retry 2 with a 600 ms DelayStamp
attempt 1: exchange "shop", routing key order.placed
attempt 2: exchange "", routing key orders
attempt 3: exchange "", routing key orders
orders: 0 ready, 0 unacked; failed: 1 ready, 0 unacked
OrderPlaced 5 from async, error: payment service down for order 5
failed after ack: 0 ready, 0 unacked
-- reject: off the queue; an undecodable message: off the queue, MessageDecodingFailedException
Symfony\Component\Messenger\Exception\MessageDecodingFailedException: Could not decode %s
orders: 0 ready, 0 unacked
-- headers: AMQP headers, Content-Type as content_type
{"order":7} application/json {"type":"OrderPlaced"} message_id 32 hex chars
received back: order 7, id stamp 32 hex chars
-- setup() declares; without auto_setup nothing is declared before
manual before: no queue
manual after: 1 ready, 0 unacked
Symfony\Component\Messenger\Exception\TransportException (Dq\Exception code 6): dq could not publish to exchange "missing.x" with routing key "nowhere": %s
-- bad DSNs
Symfony\Component\Messenger\Exception\InvalidArgumentException: The path of DSN "dq+amqp://guest:***@127.0.0.1:5672/orders" must be the vhost and the queue, as in dq+amqp://user:pass@host:port/vhost/queue (vhost "/" is %2f); found 1 path segments.
Symfony\Component\Messenger\Exception\InvalidArgumentException: The path of DSN "dq+amqp://default/%2f/orders" must be the queue, as in dq+amqp://default/queue; found 2 path segments.
Symfony\Component\Messenger\Exception\InvalidArgumentException: DSN "dq+amqp://a:5672,b:5672/%2f/orders" names 2 hosts: dq+amqp:// takes one (for a cluster, set dq.amqp and use dq+amqp://default/queue).
Symfony\Component\Messenger\Exception\InvalidArgumentException: Option "auto_setup" of DSN "dq+amqp://guest:***@127.0.0.1:5672/VHOST/orders?auto_setup=maybe" must be true or false (1, 0, yes, no), got 'maybe'.
Symfony\Component\Messenger\Exception\InvalidArgumentException: Option "prefetch" of DSN "dq+amqp://guest:***@127.0.0.1:5672/VHOST/orders?prefetch=0" must be a whole number from 1 to 65535, got '0'.
Symfony\Component\Messenger\Exception\InvalidArgumentException: Unknown option "exchange_typ" for DSN "dq+amqp://guest:***@127.0.0.1:5672/VHOST/orders?exchange_typ=topic" (did you mean "exchange_type"?); dq+amqp:// takes exchange, exchange_type, routing_key, auto_setup, prefetch, block_for, timeout, prefix.
Symfony\Component\Messenger\Exception\InvalidArgumentException: Unknown option "exchange[]" for DSN "dq+amqp://guest:***@127.0.0.1:5672/VHOST/orders?exchange[]=x" (did you mean "exchange"?); dq+amqp:// takes exchange, exchange_type, routing_key, auto_setup, prefetch, block_for, timeout, prefix.
Symfony\Component\Messenger\Exception\InvalidArgumentException: DSN "dq+amqp://guest:***@default/orders" gives a user or password to "default": put them in the dq.amqp ini setting, or name the host.
