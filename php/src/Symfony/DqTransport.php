<?php

declare(strict_types=1);

namespace Dq\Symfony;

use Symfony\Component\Messenger\Envelope;
use Symfony\Component\Messenger\Exception\LogicException;
use Symfony\Component\Messenger\Exception\MessageDecodingFailedException;
use Symfony\Component\Messenger\Exception\TransportException;
use Symfony\Component\Messenger\Stamp\DelayStamp;
use Symfony\Component\Messenger\Stamp\TransportMessageIdStamp;
use Symfony\Component\Messenger\Transport\Receiver\MessageCountAwareInterface;
use Symfony\Component\Messenger\Transport\Serialization\SerializerInterface;
use Symfony\Component\Messenger\Transport\TransportInterface;

/**
 * A pull topic of dq's delay queue ("mode": "pull", registered with dq-gateway) as a Messenger
 * transport: send is Client::add, get is Client::reserve, ack is Job::ack.
 *
 * - Each send adds a message of its own (a random id): Messenger retries by sending a copy and
 *   then rejecting the original, and an add with the id of a reserved message would replace it.
 * - reject removes the job (Job::ack), it does not make a dq dead letter (Job::fail): Messenger
 *   rejects after every failed attempt, the ones it has just sent again for retry included, so
 *   dead letters would hold a copy of every retried message and set off dq's dead-letter
 *   alerts. Messenger's failure transport (a second dq:// topic) keeps what finally failed.
 *   Only a message that cannot be decoded becomes a dq dead letter: Messenger never sees it.
 * - A job is leased for the topic's timeout_ms: set it above the longest handler, or the job
 *   is reserved again meanwhile and its ack fails with a TransportException.
 * - Without a DelayStamp a message is due at once; the topic's default delay is not used.
 */
final class DqTransport implements TransportInterface, MessageCountAwareInterface
{
    /**
     * @param \Dq\ClientInterface|object $client Dq\Client, or the FFI client's DqFfi\Client
     * @param float $blockFor how long get() waits for a job; Messenger's worker sleeps less by as much
     */
    public function __construct(
        private readonly object $client,
        private readonly string $topic,
        private readonly SerializerInterface $serializer,
        private readonly float $blockFor = 1.0,
    ) {
    }

    public function get(): iterable
    {
        $job = $this->call('reserve a job from', fn () => $this->client->reserve($this->topic, $this->blockFor));
        if ($job === null) {
            return [];
        }
        $encoded = $job->body();
        try {
            if (!is_array($encoded) || !is_string($encoded['body'] ?? null)) {
                throw new MessageDecodingFailedException(sprintf('Job "%s" of topic "%s" is not an encoded envelope ({"body": string, "headers": {...}}): it was not sent by Messenger.', $job->id(), $this->topic));
            }
            $envelope = $this->serializer->decode($encoded);
        } catch (MessageDecodingFailedException $e) {
            $this->call('bury an undecodable job of', fn () => $job->fail('Messenger could not decode it: ' . $e->getMessage()));
            throw $e;
        }

        return [$envelope->with(new DqReceivedStamp($job), new TransportMessageIdStamp($job->id()))];
    }

    public function ack(Envelope $envelope): void
    {
        $this->remove($envelope, 'ack');
    }

    /** Removes the job: see the class comment for why not a dq dead letter. */
    public function reject(Envelope $envelope): void
    {
        $this->remove($envelope, 'reject');
    }

    public function send(Envelope $envelope): Envelope
    {
        $encoded = $this->serializer->encode($envelope);
        $delay = $envelope->last(DelayStamp::class)?->getDelay() ?? 0;
        $id = bin2hex(random_bytes(16));
        $message = ['id' => $id, 'body' => $encoded, 'delay' => max(0, $delay) / 1000];
        $this->call('add a message to', fn () => $this->client->add($this->topic, $message));

        return $envelope->with(new TransportMessageIdStamp($id));
    }

    /**
     * Messages not yet reserved: dq's delayed and ready counts (a due message counts as delayed
     * until a worker or a reserve moves it, so ready alone would miss some).
     */
    public function getMessageCount(): int
    {
        $stats = $this->call('count the messages of', fn () => $this->client->stats($this->topic));

        return $stats['delayed'] + $stats['ready'];
    }

    private function remove(Envelope $envelope, string $how): void
    {
        $stamp = $envelope->last(DqReceivedStamp::class);
        if (!$stamp instanceof DqReceivedStamp) {
            throw new LogicException(sprintf('Cannot %s a message that dq:// did not receive: the envelope has no %s.', $how, DqReceivedStamp::class));
        }
        $job = $stamp->job();
        if ($job->settled()) {
            return;
        }
        $this->call("$how job \"{$job->id()}\" of", fn () => $job->ack());
    }

    /** Runs a dq call; a dq error becomes the TransportException Messenger expects. */
    private function call(string $what, callable $call): mixed
    {
        try {
            return $call();
        } catch (\Dq\Exception $e) {
            throw new TransportException(sprintf('dq could not %s topic "%s": %s', $what, $this->topic, $e->getMessage()), $e->getCode(), $e);
        }
    }
}
