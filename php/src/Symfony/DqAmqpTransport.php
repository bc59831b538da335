<?php

declare(strict_types=1);

namespace Dq\Symfony;

use Symfony\Component\Messenger\Envelope;
use Symfony\Component\Messenger\Exception\LogicException;
use Symfony\Component\Messenger\Exception\MessageDecodingFailedException;
use Symfony\Component\Messenger\Exception\TransportException;
use Symfony\Component\Messenger\Stamp\DelayStamp;
use Symfony\Component\Messenger\Stamp\RedeliveryStamp;
use Symfony\Component\Messenger\Stamp\TransportMessageIdStamp;
use Symfony\Component\Messenger\Transport\Serialization\SerializerInterface;
use Symfony\Component\Messenger\Transport\SetupableTransportInterface;
use Symfony\Component\Messenger\Transport\TransportInterface;

/**
 * A RabbitMQ queue as a Messenger transport, through dq: send is Producer::publish (confirmed
 * by the broker before send returns), or publishDelayed for a DelayStamp; get is Consumer::next;
 * ack and reject are Delivery::ack and nack without requeue (so a queue with a dead-letter
 * exchange keeps what was rejected, as with Symfony's amqp:// transport).
 *
 * The encoded envelope's body is the message body; its headers are AMQP headers, Content-Type
 * going to the content_type property. A retry goes back to the queue it came from alone (through
 * the default exchange), as with Symfony's amqp:// transport. The queue (and the exchange, with
 * its binding) is declared by setup() (messenger:setup-transports), and before the first send or
 * get with auto_setup (off by default: a queue declared elsewhere with other arguments would
 * make the declaration fail).
 */
final class DqAmqpTransport implements TransportInterface, SetupableTransportInterface
{
    private ?object $producer = null;
    private ?object $consumer = null;
    private bool $setUp = false;

    /**
     * @param array{queue: string, exchange: string, exchange_type: string, routing_key: string, auto_setup: bool, block_for: float} $target
     * @param array<string, mixed> $producerOptions Dq\Producer's options (amqp, prefix, timeout)
     * @param array<string, mixed> $consumerOptions Dq\Consumer's options (the same and prefetch)
     */
    public function __construct(
        private readonly array $target,
        private readonly array $producerOptions,
        private readonly array $consumerOptions,
        private readonly SerializerInterface $serializer,
    ) {
    }

    public function get(): iterable
    {
        $this->autoSetup();
        $delivery = $this->call(sprintf('take a message from queue "%s"', $this->target['queue']), fn () => $this->consumer()->next($this->target['block_for']));
        if ($delivery === null) {
            return [];
        }
        $properties = $delivery->properties();
        $headers = $properties['headers'] ?? [];
        if (isset($properties['content_type'])) {
            $headers['Content-Type'] ??= $properties['content_type'];
        }
        try {
            $envelope = $this->serializer->decode(['body' => $delivery->body(), 'headers' => $headers]);
        } catch (MessageDecodingFailedException $e) {
            $this->call(sprintf('reject an undecodable message of queue "%s"', $this->target['queue']), fn () => $delivery->nack(false));
            throw $e;
        }
        $envelope = $envelope->with(new DqAmqpReceivedStamp($delivery, $this->target['queue']));
        if (isset($properties['message_id'])) {
            $envelope = $envelope->with(new TransportMessageIdStamp($properties['message_id']));
        }

        return [$envelope];
    }

    public function ack(Envelope $envelope): void
    {
        $delivery = $this->delivery($envelope, 'ack');
        $this->call(sprintf('ack a message of queue "%s"', $this->target['queue']), fn () => $delivery->ack());
    }

    /** Nack without requeue: dropped, or dead-lettered if the queue has a dead-letter exchange. */
    public function reject(Envelope $envelope): void
    {
        $delivery = $this->delivery($envelope, 'reject');
        $this->call(sprintf('reject a message of queue "%s"', $this->target['queue']), fn () => $delivery->nack(false));
    }

    public function send(Envelope $envelope): Envelope
    {
        $this->autoSetup();
        $encoded = $this->serializer->encode($envelope);
        $id = bin2hex(random_bytes(16));
        $properties = ['message_id' => $id];
        $headers = $encoded['headers'] ?? [];
        if (isset($headers['Content-Type'])) {
            $properties['content_type'] = $headers['Content-Type'];
            unset($headers['Content-Type']);
        }
        if ($headers !== []) {
            $properties['headers'] = $headers;
        }
        $delay = $envelope->last(DelayStamp::class)?->getDelay() ?? 0;
        ['exchange' => $exchange, 'routing_key' => $routingKey] = $this->retried($envelope)
            ? ['exchange' => '', 'routing_key' => $this->target['queue']]
            : $this->target;
        $this->call(sprintf('publish to exchange "%s" with routing key "%s"', $exchange, $routingKey), fn () => $delay > 0
            ? $this->producer()->publishDelayed($exchange, $routingKey, $encoded['body'], $delay / 1000, $properties)
            : $this->producer()->publish($exchange, $routingKey, $encoded['body'], $properties));

        return $envelope->with(new TransportMessageIdStamp($id));
    }

    /**
     * Whether Messenger sends back for retry a message this transport received: it goes to the
     * queue it came from alone, through the default exchange, as Symfony's amqp:// transport
     * does; through the exchange it would reach every queue bound to it again.
     */
    private function retried(Envelope $envelope): bool
    {
        $received = $envelope->last(DqAmqpReceivedStamp::class);

        return $received instanceof DqAmqpReceivedStamp
            && $received->queue() === $this->target['queue']
            && $envelope->last(RedeliveryStamp::class) !== null;
    }

    /** Declares the queue (durable) and, when one is named, the exchange and the binding. */
    public function setup(): void
    {
        ['queue' => $queue, 'exchange' => $exchange, 'exchange_type' => $type, 'routing_key' => $routingKey] = $this->target;
        $this->call(sprintf('declare queue "%s"%s', $queue, $exchange === '' ? '' : " and exchange \"$exchange\""), function () use ($queue, $exchange, $type, $routingKey): void {
            $producer = $this->producer();
            $producer->declareQueue($queue);
            if ($exchange !== '') {
                $producer->declareExchange($exchange, $type);
                $producer->bindQueue($queue, $exchange, $routingKey);
            }
        });
        $this->setUp = true;
    }

    private function autoSetup(): void
    {
        if ($this->target['auto_setup'] && !$this->setUp) {
            $this->setup();
        }
    }

    private function producer(): object
    {
        if (!class_exists(\Dq\Producer::class)) {
            throw new LogicException('dq+amqp:// needs Dq\Producer: load the dq extension (dq.so), or the FFI client examples/ffi/DqFfi.php with class_alias(DqFfi\Producer::class, \'Dq\Producer\').');
        }

        return $this->producer ??= new \Dq\Producer($this->producerOptions);
    }

    private function consumer(): object
    {
        if (!class_exists(\Dq\Consumer::class)) {
            throw new LogicException('dq+amqp:// receives through Dq\Consumer, which only the dq extension (dq.so) has: the FFI client (DqFfi) has no consumer. Sending works without it; load dq.so in the worker.');
        }

        return $this->consumer ??= new \Dq\Consumer($this->target['queue'], $this->consumerOptions);
    }

    /** @return \Dq\DeliveryInterface */
    private function delivery(Envelope $envelope, string $how): object
    {
        $stamp = $envelope->last(DqAmqpReceivedStamp::class);
        if (!$stamp instanceof DqAmqpReceivedStamp) {
            throw new LogicException(sprintf('Cannot %s a message that dq+amqp:// did not receive: the envelope has no %s.', $how, DqAmqpReceivedStamp::class));
        }

        return $stamp->delivery();
    }

    /** Runs a dq call; a dq error becomes the TransportException Messenger expects. */
    private function call(string $what, callable $call): mixed
    {
        try {
            return $call();
        } catch (\Dq\Exception $e) {
            throw new TransportException(sprintf('dq could not %s: %s', $what, $e->getMessage()), $e->getCode(), $e);
        }
    }
}
