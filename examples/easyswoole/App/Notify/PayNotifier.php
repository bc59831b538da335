<?php
declare(strict_types=1);

namespace App\Notify;

use Dq\Consumer;
use Dq\Delivery;
use Dq\Producer;

/**
 * The payment-notify ladder on RabbitMQ, in plain PHP (the EasySwoole process only runs it).
 *
 * notify() puts a notification on the "pay.notify" queue with header x-attempt: 1. handle()
 * POSTs it to the merchant; on a failure it publishes the same notification again with
 * Dq\Producer::publishDelayed(delay = the next rung, x-attempt = n + 1), then acks the one it
 * holds. Ladder [1, 3, 5, 15, 30] s: attempts at 0, 1, 4, 9, 24 and 54 s; when the 6th fails
 * too, the notification goes to "pay.notify.dead" (headers x-attempts, x-last-error).
 *
 * Before: a PHP daemon with sleep() loops or a Redis sorted set polled every second. Now the
 * waiting happens in the broker (dq's delay queues), no process holds a pending notification,
 * and a worker that dies mid-call leaves it unacked: the broker hands it out again.
 * At least once: the merchant may see a notification twice, so its handler must be idempotent.
 */
final class PayNotifier
{
    public const QUEUE = 'pay.notify';
    public const DEAD = 'pay.notify.dead';
    /** Seconds before attempts 2, 3, 4, 5 and 6. */
    public const LADDER = [1, 3, 5, 15, 30];

    /** @param list<int|float> $ladder seconds */
    public function __construct(
        private Producer $producer,
        private MerchantClient $merchant,
        private array $ladder = self::LADDER,
        private string $queue = self::QUEUE,
        private string $dead = self::DEAD,
    ) {
    }

    /** Declares the queues (durable; a no-op when they exist). */
    public function declare(): void
    {
        $this->producer->declareQueue($this->queue);
        $this->producer->declareQueue($this->dead);
    }

    /** Queues the first attempt, now. */
    public function notify(string $orderId, string $url, array $payload): void
    {
        $this->producer->publish('', $this->queue, ['order_id' => $orderId, 'url' => $url, 'payload' => $payload], [
            'message_id' => "notify-$orderId",
            'headers' => ['x-attempt' => 1],
            'mandatory' => true,   // no queue: an error now, not a notification lost
        ]);
    }

    /** @return string 'delivered', 'retry in <seconds> s' or 'dead' */
    public function handle(Delivery $delivery): string
    {
        $properties = $delivery->properties();
        $attempt = max(1, (int) ($properties['headers']['x-attempt'] ?? 1));
        try {
            [$delivered, $what] = $this->merchant->deliver($delivery->body(), $attempt);
        } catch (\UnexpectedValueException $e) {
            return $this->bury($delivery, $attempt, $e->getMessage());
        }
        if ($delivered) {
            $delivery->ack();
            return 'delivered';
        }
        $delay = $this->ladder[$attempt - 1] ?? null;
        if ($delay === null) {
            return $this->bury($delivery, $attempt, $what);
        }
        // The next attempt first, then the ack: a crash in between repeats, never loses.
        $this->producer->publishDelayed('', $this->queue, $delivery->body(), $delay, $this->properties($properties, [
            'x-attempt' => $attempt + 1,
            'x-last-error' => $what,
        ]));
        $delivery->ack();
        return "retry in $delay s";
    }

    /**
     * Handles notifications until $stop() says so (checked at least every $poll seconds).
     * @param callable(): bool $stop
     * @param null|callable(string, Delivery): void $log
     */
    public function run(Consumer $consumer, callable $stop, ?callable $log = null, float $poll = 1.0): int
    {
        $handled = 0;
        while (!$stop()) {
            $delivery = $consumer->next($poll);
            if ($delivery !== null) {
                $outcome = $this->handle($delivery);
                $handled++;
                if ($log !== null) {
                    $log($outcome, $delivery);
                }
            }
        }
        return $handled;
    }

    private function bury(Delivery $delivery, int $attempts, string $why): string
    {
        $this->producer->publish('', $this->dead, $delivery->body(), $this->properties($delivery->properties(), [
            'x-attempts' => $attempts,
            'x-last-error' => $why,
        ]));
        $delivery->ack();
        return 'dead';
    }

    /** The properties of a copy: the same message id, our headers only (not the broker's x-death). */
    private function properties(array $received, array $headers): array
    {
        return array_filter([
            'message_id' => $received['message_id'] ?? null,
            'content_type' => $received['content_type'] ?? 'application/json',
            'headers' => $headers,
        ], fn ($value) => $value !== null);
    }
}
