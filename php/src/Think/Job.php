<?php

declare(strict_types=1);

namespace Dq\Think;

use think\App;
use think\queue\Job as QueueJob;

/**
 * A reserved dq job as think-queue's Job: delete() acks it, release($delay) retries it after
 * $delay seconds, attempts() is dq's attempt number (1 for the first).
 *
 * A job think-queue gives up on (its Worker marks it failed, then deletes it) becomes a dq dead
 * letter rather than vanishing: listed, requeued or removed in dq-gateway's admin UI. When the
 * topic's max_attempts runs out first, release() makes it a dead letter and marks it failed.
 */
class Job extends QueueJob
{
    /**
     * @param \Dq\JobInterface $reserved what Client::reserve returned
     * @param string|null $connection the connection's name in config/queue.php
     */
    public function __construct(?App $app, protected object $reserved, $connection, string $queue)
    {
        $this->app = $app;
        $this->connection = $connection;
        $this->queue = $queue;
    }

    public function attempts(): int
    {
        return $this->reserved->attempt();
    }

    /** The payload as pushed: the JSON that dq keeps as the message's body. */
    public function getRawBody(): string
    {
        $body = $this->reserved->body();

        return is_string($body) ? $body : (string) json_encode($body);
    }

    public function getJobId(): string
    {
        return $this->reserved->id();
    }

    /** Done: the job is removed; or, when think-queue marked it failed, a dq dead letter. */
    public function delete(): void
    {
        parent::delete();
        if ($this->reserved->settled()) {
            return;
        }
        if ($this->hasFailed()) {
            $this->reserved->fail(sprintf('think-queue gave up on %s at attempt %d', $this->getName() ?? 'it', $this->attempts()));
            return;
        }
        $this->reserved->ack();
    }

    /** @param int|float|\DateTimeInterface|\DateInterval $delay seconds, or when */
    public function release($delay = 0): void
    {
        parent::release($delay);
        if ($this->reserved->settled()) {
            return;
        }
        if (!$this->reserved->retry(Connector::seconds($delay))) {
            // That was the topic's last attempt: dq made it a dead letter.
            $this->markAsFailed();
        }
    }

    /** The dq job itself: its lease, when it was due, when the lease ends. */
    public function reserved(): object
    {
        return $this->reserved;
    }
}
