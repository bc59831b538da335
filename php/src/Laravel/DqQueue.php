<?php

declare(strict_types=1);

namespace Dq\Laravel;

use Illuminate\Contracts\Queue\Queue as QueueContract;
use Illuminate\Queue\Queue;
use Illuminate\Support\Str;

/**
 * A Laravel queue connection over dq's pull topics: each Laravel queue name is a dq topic with
 * "mode": "pull", a job is a dq message whose id is the payload's uuid (so a job is found by the
 * same id in Laravel's failed_jobs, dq's admin UI and `GET /v1/topics/{queue}/messages/{uuid}`),
 * and its body is Laravel's JSON payload as Laravel wrote it.
 *
 * Signatures stay untyped, as Laravel's own drivers are, so that one class fits Laravel 8 to 12.
 */
class DqQueue extends Queue implements QueueContract
{
    /**
     * @param \Dq\ClientInterface|\DqFfi\Client $client only Dq\Client's public API is used, so
     *        the FFI client serves where dq.so is not installed
     * @param string $default the topic of jobs dispatched without a queue
     * @param float $blockFor seconds pop() waits for a job (0 to 60)
     */
    public function __construct(
        protected object $client,
        protected string $default = 'default',
        protected float $blockFor = 0.0,
        bool $dispatchAfterCommit = false,
    ) {
        $this->dispatchAfterCommit = $dispatchAfterCommit;
    }

    /** Jobs waiting, delayed or running; dead letters are not counted (see topicStats() or dq's admin UI). */
    public function size($queue = null)
    {
        $stats = $this->topicStats($queue);
        return $stats['ready'] + $stats['delayed'] + $stats['inflight'];
    }

    public function pendingSize($queue = null)
    {
        return $this->topicStats($queue)['ready'];
    }

    public function delayedSize($queue = null)
    {
        return $this->topicStats($queue)['delayed'];
    }

    public function reservedSize($queue = null)
    {
        return $this->topicStats($queue)['inflight'];
    }

    /** dq does not keep when a message was created, only when it is due. */
    public function creationTimeOfOldestPendingJob($queue = null)
    {
        return null;
    }

    /**
     * dq's counts of the queue's topic.
     * @return array{delayed: int, ready: int, inflight: int, dead: int}
     */
    public function topicStats($queue = null): array
    {
        $topic = $this->getQueue($queue);
        return $this->onTopic($topic, fn () => $this->client->stats($topic));
    }

    public function push($job, $data = '', $queue = null)
    {
        return $this->enqueueUsing(
            $job,
            $this->createPayload($job, $this->getQueue($queue), $data),
            $queue,
            null,
            fn ($payload, $queue) => $this->pushRaw($payload, $queue),
        );
    }

    /**
     * Without a delay the message takes its topic's default delay (0 unless the topic sets one).
     * @return string the dq message id (the payload's uuid)
     */
    public function pushRaw($payload, $queue = null, array $options = [])
    {
        return $this->addMessage((string) $payload, $queue, $options['delay'] ?? null);
    }

    /** @param \DateTimeInterface|\DateInterval|int|float $delay */
    public function later($delay, $job, $data = '', $queue = null)
    {
        return $this->enqueueUsing(
            $job,
            $this->createPayload($job, $this->getQueue($queue), $data),
            $queue,
            $delay,
            fn ($payload, $queue, $delay) => $this->addMessage($payload, $queue, $delay ?? 0),
        );
    }

    /** Reserves the next due job, waiting up to block_for seconds; its lease is the topic's timeout_ms. */
    public function pop($queue = null)
    {
        $topic = $this->getQueue($queue);
        $job = $this->onTopic($topic, fn () => $this->client->reserve($topic, $this->blockFor));
        return $job === null ? null : new DqJob($this->container, $this, $job, $this->connectionName, $topic);
    }

    /** The dq topic of a Laravel queue name. */
    public function getQueue($queue)
    {
        return $queue ?: $this->default;
    }

    /** @return \Dq\ClientInterface|\DqFfi\Client */
    public function getDqClient(): object
    {
        return $this->client;
    }

    /** @param \DateTimeInterface|\DateInterval|int|float|null $delay */
    protected function addMessage(string $payload, ?string $queue, mixed $delay): string
    {
        $topic = $this->getQueue($queue);
        $uuid = json_decode($payload, true)['uuid'] ?? null;
        $message = ['id' => is_string($uuid) && $uuid !== '' ? $uuid : (string) Str::uuid(), 'body' => $payload];
        if ($delay !== null) {
            $message['delay'] = Delay::seconds($delay);
        }
        $this->onTopic($topic, fn () => $this->client->add($topic, $message));
        return $message['id'];
    }

    /** Runs a call on $topic; a missing topic is named with the way to create it. */
    protected function onTopic(string $topic, callable $call): mixed
    {
        try {
            return $call();
        } catch (\Dq\UnknownTopicException $e) {
            throw $e instanceof UnknownQueueException ? $e : UnknownQueueException::forQueue($topic, $this->connectionName, $e);
        }
    }
}
