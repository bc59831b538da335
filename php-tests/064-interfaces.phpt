--TEST--
Dq\ClientInterface, Dq\ProducerInterface, Dq\ConsumerInterface, Dq\DeliveryInterface: the classes implement them, and a test double (a plain class, an anonymous class) stands in for each where code type-hints the interface
--EXTENSIONS--
dq
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';

echo "-- the interfaces\n";
foreach (['Client', 'Producer', 'Consumer', 'Delivery'] as $class) {
    $interface = new ReflectionClass("Dq\\{$class}Interface");
    printf("%s: interface %s, internal %s, %s implements it: %s\n", $interface->getName(), var_export($interface->isInterface(), true),
        var_export($interface->isInternal(), true), "Dq\\$class", var_export((new ReflectionClass("Dq\\$class"))->implementsInterface($interface->getName()), true));
    foreach ($interface->getMethods() as $method) {
        $params = array_map(fn (ReflectionParameter $p) => $p->getType() . ' $' . $p->getName()
            . ($p->isOptional() ? ' = ' . var_export($p->getDefaultValue(), true) : ''), $method->getParameters());
        printf("  %s(%s): %s\n", $method->getName(), implode(', ', $params), $method->getReturnType());
    }
}

// Application code that depends on the interfaces only.
function handle(Dq\DeliveryInterface $delivery): string
{
    $order = json_decode($delivery->body(), true);
    if (!isset($order['order'])) {
        $delivery->nack(false);
        return 'rejected ' . $delivery->body();
    }
    $delivery->ack();
    return 'order ' . $order['order'] . ' via ' . $delivery->exchange() . '/' . $delivery->routingKey();
}

final class OrderService
{
    public function __construct(private Dq\ProducerInterface $producer, private Dq\ClientInterface $queue) {}

    public function paid(int $order): void
    {
        $this->producer->publish('orders', 'order.paid', ['order' => $order], ['message_id' => "o-$order"]);
        $this->producer->publishDelayed('', 'order.check', ['order' => $order], 1.5);
        $this->queue->add('order.timeout', ['id' => "o-$order", 'delay' => 900]);
    }
}

function drain(Dq\ConsumerInterface $consumer): int
{
    return $consumer->consume(fn (Dq\DeliveryInterface $d) => print(handle($d) . "\n"), ['max_messages' => 10]);
}

// Test doubles, as a PHPUnit user writes them by hand (createMock() makes the same).
final class FakeDelivery implements Dq\DeliveryInterface
{
    public ?string $settled = null;

    public function __construct(private string $body, private string $routingKey = 'order.paid') {}
    public function body(): string { return $this->body; }
    public function properties(): array { return []; }
    public function routingKey(): string { return $this->routingKey; }
    public function exchange(): string { return 'orders'; }
    public function redelivered(): bool { return false; }
    public function ack(): void { $this->settled = 'acked'; }
    public function nack(bool $requeue = false): void { $this->settled = 'nacked' . ($requeue ? ', requeued' : ''); }
    public function reply(mixed $body): void {}
}

echo "-- a plain class for Dq\\DeliveryInterface\n";
foreach ([new FakeDelivery('{"order":7}'), new FakeDelivery('junk')] as $fake) {
    echo handle($fake), ' -> ', $fake->settled, "\n";
}

echo "-- anonymous classes for Dq\\ProducerInterface and Dq\\ClientInterface\n";
$producer = new class implements Dq\ProducerInterface {
    public array $sent = [];
    public function publish(string $exchange, string $routingKey, mixed $body, array $properties = []): void
    {
        $this->sent[] = "publish $exchange $routingKey " . json_encode($body) . ' ' . json_encode($properties);
    }
    public function publishDelayed(string $exchange, string $routingKey, mixed $body, float $delay, array $properties = []): void
    {
        $this->sent[] = "publishDelayed '$exchange' $routingKey " . json_encode($body) . " in {$delay} s";
    }
};
$queue = new class implements Dq\ClientInterface {
    public array $added = [];
    public function add(string $topic, array $data): bool { $this->added[] = "$topic " . json_encode($data); return true; }
    public function get(string $topic, mixed $id): ?array { return null; }
    public function del(string $topic, mixed $id): bool { return false; }
    public function addMany(string $topic, array $items): int { return count($items); }
    public function stats(string $topic): array { return ['delayed' => 0, 'ready' => 0, 'inflight' => 0, 'dead' => 0]; }
    public function reserve(string $topic, float $timeout = 1.0): ?Dq\JobInterface { return null; }
    public function work(string $topic, callable $handler, array $options = []): int { return 0; }
};
(new OrderService($producer, $queue))->paid(42);
echo implode("\n", [...$producer->sent, ...$queue->added]), "\n";

echo "-- an anonymous class for Dq\\ConsumerInterface, handing out fakes\n";
$consumer = new class([new FakeDelivery('{"order":1}'), new FakeDelivery('{"order":2}', 'order.refunded')]) implements Dq\ConsumerInterface {
    public function __construct(private array $deliveries) {}
    public function next(float $timeout = 1.0): ?Dq\DeliveryInterface { return array_shift($this->deliveries); }
    public function consume(callable $handler, array $options = []): int
    {
        $n = 0;
        while ($d = $this->next()) {
            $handler($d);
            $n++;
        }
        return $n;
    }
};
$n = drain($consumer);
echo "drained $n\n";

echo "-- the real classes pass the same type hints\n";
$vhost = new TestVhost('interfaces');
$real = new Dq\Producer(['amqp' => $vhost->url()]);
$real->declareQueue('order.events');
$real->publish('', 'order.events', ['order' => 9]);
$real->publish('', 'order.events', 'not json');
$n = drain(new class(new Dq\Consumer('order.events', ['amqp' => $vhost->url()])) implements Dq\ConsumerInterface {
    // A decorator: stops when the queue is empty, so the test ends.
    public function __construct(private Dq\ConsumerInterface $inner) {}
    public function next(float $timeout = 1.0): ?Dq\DeliveryInterface { return $this->inner->next($timeout); }
    public function consume(callable $handler, array $options = []): int
    {
        $n = 0;
        while ($d = $this->next(0.5)) {
            $handler($d);
            $n++;
        }
        return $n;
    }
});
echo "drained $n\n";
var_dump(new Dq\Client() instanceof Dq\ClientInterface, $real instanceof Dq\ProducerInterface);
new OrderService($real, new Dq\Client());
echo "OrderService takes Dq\\Producer and Dq\\Client\n";
try {
    handle(new stdClass());
} catch (TypeError $e) {
    echo 'TypeError: ', preg_replace('/, called in .*/', '', $e->getMessage()), "\n";
}
?>
--EXPECT--
-- the interfaces
Dq\ClientInterface: interface true, internal true, Dq\Client implements it: true
  add(string $topic, array $data): bool
  get(string $topic, mixed $id): ?array
  del(string $topic, mixed $id): bool
  addMany(string $topic, array $items): int
  stats(string $topic): array
  reserve(string $topic, float $timeout = 1.0): ?Dq\JobInterface
  work(string $topic, callable $handler, array $options = array (
)): int
Dq\ProducerInterface: interface true, internal true, Dq\Producer implements it: true
  publish(string $exchange, string $routingKey, mixed $body, array $properties = array (
)): void
  publishDelayed(string $exchange, string $routingKey, mixed $body, float $delay, array $properties = array (
)): void
Dq\ConsumerInterface: interface true, internal true, Dq\Consumer implements it: true
  next(float $timeout = 1.0): ?Dq\DeliveryInterface
  consume(callable $handler, array $options = array (
)): int
Dq\DeliveryInterface: interface true, internal true, Dq\Delivery implements it: true
  body(): string
  properties(): array
  routingKey(): string
  exchange(): string
  redelivered(): bool
  ack(): void
  nack(bool $requeue = false): void
  reply(mixed $body): void
-- a plain class for Dq\DeliveryInterface
order 7 via orders/order.paid -> acked
rejected junk -> nacked
-- anonymous classes for Dq\ProducerInterface and Dq\ClientInterface
publish orders order.paid {"order":42} {"message_id":"o-42"}
publishDelayed '' order.check {"order":42} in 1.5 s
order.timeout {"id":"o-42","delay":900}
-- an anonymous class for Dq\ConsumerInterface, handing out fakes
order 1 via orders/order.paid
order 2 via orders/order.refunded
drained 2
-- the real classes pass the same type hints
order 9 via /order.events
rejected not json
drained 2
bool(true)
bool(true)
OrderService takes Dq\Producer and Dq\Client
TypeError: handle(): Argument #1 ($delivery) must be of type Dq\DeliveryInterface, stdClass given
