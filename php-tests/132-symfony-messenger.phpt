--TEST--
Symfony Messenger over dq:// (Dq\Symfony\DqTransportFactory, a pull topic): a MessageBus sends, a Worker handles and acks, a DelayStamp is honoured, a throwing handler is retried by Messenger's retry strategy with its delays and then goes to the failure transport (a second dq:// topic), an undecodable job becomes a dq dead letter, message counts, bad DSNs named
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

use Dq\Symfony\DqReceivedStamp;
use Dq\Symfony\DqTransportFactory;
use Symfony\Component\EventDispatcher\EventDispatcher;
use Symfony\Component\Messenger\Envelope;
use Symfony\Component\Messenger\Event\WorkerMessageFailedEvent;
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
use Symfony\Component\Messenger\Transport\Receiver\MessageCountAwareInterface;
use Symfony\Component\Messenger\Transport\Sender\SendersLocator;
use Symfony\Component\Messenger\Transport\Serialization\PhpSerializer;
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

$gw = new TestGateway(dq_test_prefix('messenger'));
$gw->topic('orders', ['mode' => 'pull', 'timeout_ms' => 60000]);
$gw->topic('failed', ['mode' => 'pull', 'timeout_ms' => 60000]);
$dq = new Dq\Client(['prefix' => $gw->prefix]);

$factory = new DqTransportFactory();
$serializer = new PhpSerializer();
$dsn = "dq://127.0.0.1:6379/orders?prefix={$gw->prefix}&block_for=0.2";
echo 'supports: ', json_encode([$factory->supports($dsn, []), $factory->supports('dq+amqp://default/q', []), $factory->supports('redis://localhost/q', [])]), "\n";
$orders = $factory->createTransport($dsn, ['transport_name' => 'async'], $serializer);
// The failure transport: the ini's Redis, its prefix from the options rather than the DSN.
$failed = $factory->createTransport('dq://default/failed?block_for=0', ['transport_name' => 'failed', 'prefix' => $gw->prefix], $serializer);
echo get_class($orders), ', counts messages: ', var_export($orders instanceof MessageCountAwareInterface, true), "\n";

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
function work(array $receivers, MessageBus $bus, int $limit, array $listeners = []): void
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
    (new Worker($receivers, $bus, $events))->run(['sleep' => 10000]);
}

echo "-- dispatch: sent to the topic, not handled yet\n";
$sentAt = microtime(true);
$first = $bus->dispatch(new OrderPlaced(1));
$bus->dispatch(new OrderPlaced(2));
$bus->dispatch(new OrderPlaced(3), [new DelayStamp(500)]);
$later = $bus->dispatch(new OrderPlaced(4), [new DelayStamp(3600 * 1000)]);
$id = $first->last(TransportMessageIdStamp::class)->getId();
$stored = $dq->get('orders', $id);
echo 'handled: ', json_encode($seen), '; message ', strlen($id), ' hex chars, ', $stored['state'], ', body keys ', json_encode(array_keys($stored['body'])), "\n";
echo 'waiting: ', $orders->getMessageCount(), "\n";
$hour = $dq->get('orders', $later->last(TransportMessageIdStamp::class)->getId());
echo 'order 4: ', $hour['state'], ', due in about an hour: ', var_export(abs($hour['due_at'] - $sentAt - 3600) < 60, true), "\n";

echo "-- a worker handles three and stops; order 3 not before its delay\n";
$checks = [];
work(['async' => $orders], $bus, 3, [
    WorkerMessageReceivedEvent::class => function (WorkerMessageReceivedEvent $event) use (&$checks, $sentAt) {
        $job = $event->getEnvelope()->last(DqReceivedStamp::class)->job();
        $order = $event->getEnvelope()->getMessage()->order;
        $checks[$order] = sprintf('attempt %d, reserved after due: %s', $job->attempt(), var_export(microtime(true) >= $job->dueAt(), true))
            . ($order === 3 ? ', due 0.5 s after the dispatch: ' . var_export($job->dueAt() - $sentAt >= 0.49, true) : '');
    },
]);
sort($seen);
echo 'handled: ', json_encode($seen), "\n";
ksort($checks);
foreach ($checks as $order => $check) {
    echo "order $order: $check\n";
}
echo 'left: ', json_encode($dq->stats('orders')), ', waiting: ', $orders->getMessageCount(), "\n";

echo "-- a handler that throws: retried after 300 ms then 600 ms, then to the failure transport\n";
$seen = [];
$failedAt = 0.0;
$retries = [];
$bus->dispatch(new OrderPlaced(5, true));
work(['async' => $orders], $bus, 3, [
    WorkerMessageFailedEvent::class => function () use (&$failedAt) {
        $failedAt = microtime(true);
    },
    WorkerMessageRetriedEvent::class => function (WorkerMessageRetriedEvent $event) use (&$retries, &$failedAt, $dq) {
        $envelope = $event->getEnvelope();
        $delay = $envelope->last(DelayStamp::class)->getDelay();
        $copy = $dq->get('orders', $envelope->last(TransportMessageIdStamp::class)->getId());
        $retries[] = sprintf('retry %d with a %d ms DelayStamp: a new message, due no sooner: %s', $envelope->last(RedeliveryStamp::class)->getRetryCount(), $delay, var_export($copy['due_at'] >= $failedAt + $delay / 1000 - 0.002, true));
    },
]);
echo 'handled: ', json_encode($seen), "\n", implode("\n", $retries), "\n";
echo 'orders left: ', json_encode($dq->stats('orders')), "\n";
echo 'failure transport: ', json_encode($dq->stats('failed')), "\n";
$envelopes = [...$failed->get()];
$envelope = $envelopes[0];
echo get_class($envelope->getMessage()), ' ', $envelope->getMessage()->order, ' from ', $envelope->last(SentToFailureTransportStamp::class)->getOriginalReceiverName(),
    ', retries: ', RedeliveryStamp::getRetryCountFromEnvelope($envelope) === 0 ? 'count reset' : 'count kept', ', error: ', $envelope->last(ErrorDetailsStamp::class)->getExceptionMessage(), "\n";
$failed->ack($envelope);
echo 'failure transport after ack: ', json_encode($dq->stats('failed')), "\n";

echo "-- reject removes the job (no dq dead letter); an undecodable job becomes one\n";
$envelope = $bus->dispatch(new OrderPlaced(6));
$received = [...$orders->get()][0];
$orders->reject($received);
var_dump($dq->get('orders', $received->last(TransportMessageIdStamp::class)->getId()));
$dq->add('orders', ['id' => 'alien', 'body' => ['hello' => 'world'], 'delay' => 0]);
try {
    $orders->get();
} catch (MessageDecodingFailedException $e) {
    echo get_class($e), ': ', $e->getMessage(), "\n";
}
$dead = $dq->get('orders', 'alien');
echo 'alien: ', $dead['state'], ': ', $dead['last_error'], "\n";
try {
    $orders->ack(new Envelope(new OrderPlaced(7)));
} catch (LogicException $e) {
    echo get_class($e), ': ', $e->getMessage(), "\n";
}

echo "-- errors of dq become TransportException\n";
$missing = $factory->createTransport("dq://default/nowhere?prefix={$gw->prefix}", [], $serializer);
try {
    $missing->send(new Envelope(new OrderPlaced(8)));
} catch (Symfony\Component\Messenger\Exception\TransportException $e) {
    echo get_class($e), ' (', get_class($e->getPrevious()), '): ', $e->getMessage(), "\n";
}
try {
    $orders->send(new Envelope(new OrderPlaced(9), [new DelayStamp(400 * 86400 * 1000)]));
} catch (Symfony\Component\Messenger\Exception\TransportException $e) {
    echo get_class($e), ': ', $e->getMessage(), "\n";
}

echo "-- bad DSNs and options\n";
$bad = [
    ['dq://default', []],
    ['dq://default/a/b', []],
    ['dq://', []],
    ['dq://127.0.0.1:99999/orders', []],
    ['dq://127.0.0.1:6379,:6380/orders', []],
    ['dq://default/orders?block_fro=1', []],
    ['dq://default/orders', ['retries' => 3]],
    ['dq://default/orders?block_for=100', []],
    ['dq://default/orders?timeout=soon', []],
    ['dq://default/orders?prefix=', []],
    ['dq://default/orders?db=2', []],
    ['dq://127.0.0.1/orders?db=-1', []],
    ['dq://:s3cret@default/orders', []],
    ['redis://localhost/orders', []],
];
foreach ($bad as [$badDsn, $options]) {
    try {
        $factory->createTransport($badDsn, $options, $serializer);
        echo "accepted: $badDsn\n";
    } catch (InvalidArgumentException $e) {
        echo get_class($e), ': ', $e->getMessage(), "\n";
    }
}

echo "-- clean up\n";
$dq->del('orders', $later->last(TransportMessageIdStamp::class)->getId());
$dq->del('orders', 'alien');
echo json_encode($dq->stats('orders')), ' ', json_encode($dq->stats('failed')), "\n";
?>
--EXPECTF--
supports: [true,true,false]
Dq\Symfony\DqTransport, counts messages: true
-- dispatch: sent to the topic, not handled yet
handled: []; message 32 hex chars, ready, body keys ["body"]
waiting: 4
order 4: delayed, due in about an hour: true
-- a worker handles three and stops; order 3 not before its delay
handled: [1,2,3]
order 1: attempt 1, reserved after due: true
order 2: attempt 1, reserved after due: true
order 3: attempt 1, reserved after due: true, due 0.5 s after the dispatch: true
left: {"delayed":1,"ready":0,"inflight":0,"dead":0}, waiting: 1
-- a handler that throws: retried after 300 ms then 600 ms, then to the failure transport
handled: [5,5,5]
retry 1 with a 300 ms DelayStamp: a new message, due no sooner: true
retry 2 with a 600 ms DelayStamp: a new message, due no sooner: true
orders left: {"delayed":1,"ready":0,"inflight":0,"dead":0}
failure transport: {"delayed":0,"ready":1,"inflight":0,"dead":0}
OrderPlaced 5 from async, retries: count reset, error: payment service down for order 5
failure transport after ack: {"delayed":0,"ready":0,"inflight":0,"dead":0}
-- reject removes the job (no dq dead letter); an undecodable job becomes one
NULL
Symfony\Component\Messenger\Exception\MessageDecodingFailedException: Job "alien" of topic "orders" is not an encoded envelope ({"body": string, "headers": {...}}): it was not sent by Messenger.
alien: dead: Messenger could not decode it: Job "alien" of topic "orders" is not an encoded envelope ({"body": string, "headers": {...}}): it was not sent by Messenger.
Symfony\Component\Messenger\Exception\LogicException: Cannot ack a message that dq:// did not receive: the envelope has no Dq\Symfony\DqReceivedStamp.
-- errors of dq become TransportException
Symfony\Component\Messenger\Exception\TransportException (Dq\UnknownTopicException): dq could not add a message to topic "nowhere": %s
Symfony\Component\Messenger\Exception\TransportException: dq could not add a message to topic "orders": %s
-- bad DSNs and options
Symfony\Component\Messenger\Exception\InvalidArgumentException: The path of DSN "dq://default" must name one topic, as in dq://default/orders; found 0 path segments.
Symfony\Component\Messenger\Exception\InvalidArgumentException: The path of DSN "dq://default/a/b" must name one topic, as in dq://default/orders; found 2 path segments.
Symfony\Component\Messenger\Exception\InvalidArgumentException: DSN "dq://" names no host: give host:port, or "default" for the dq.redis / dq.amqp ini settings.
Symfony\Component\Messenger\Exception\InvalidArgumentException: The port "99999" of DSN "dq://127.0.0.1:99999/orders" is not a number from 1 to 65535.
Symfony\Component\Messenger\Exception\InvalidArgumentException: The host ":6380" of DSN "dq://127.0.0.1:6379,:6380/orders" is not host or host:port.
Symfony\Component\Messenger\Exception\InvalidArgumentException: Unknown option "block_fro" for DSN "dq://default/orders?block_fro=1" (did you mean "block_for"?); dq:// takes prefix, timeout, block_for, db.
Symfony\Component\Messenger\Exception\InvalidArgumentException: Unknown option "retries" for DSN "dq://default/orders"; dq:// takes prefix, timeout, block_for, db.
Symfony\Component\Messenger\Exception\InvalidArgumentException: Option "block_for" of DSN "dq://default/orders?block_for=100" must be seconds from 0 to 60, got '100'.
Symfony\Component\Messenger\Exception\InvalidArgumentException: Option "timeout" of DSN "dq://default/orders?timeout=soon" must be seconds from 0.001 to 3600, got 'soon'.
Symfony\Component\Messenger\Exception\InvalidArgumentException: Option "prefix" of DSN "dq://default/orders?prefix=" must be a non-empty string, got ''.
Symfony\Component\Messenger\Exception\InvalidArgumentException: Option "db" of DSN "dq://default/orders?db=2" needs a Redis host in the DSN: dq://default/... uses the dq.redis ini setting, which names its own database.
Symfony\Component\Messenger\Exception\InvalidArgumentException: Option "db" of DSN "dq://127.0.0.1/orders?db=-1" must be a whole number from 0 to 1048576, got '-1'.
Symfony\Component\Messenger\Exception\InvalidArgumentException: DSN "dq://:***@default/orders" gives a user or password to "default": put them in the dq.redis ini setting, or name the host.
Symfony\Component\Messenger\Exception\InvalidArgumentException: The scheme "redis" of DSN "redis://localhost/orders" is not dq:// or dq+amqp://.
-- clean up
{"delayed":0,"ready":0,"inflight":0,"dead":0} {"delayed":0,"ready":0,"inflight":0,"dead":0}
