<?php

declare(strict_types=1);

namespace Dq\Laravel;

use Illuminate\Container\Container;
use Illuminate\Contracts\Queue\Job as JobContract;
use Illuminate\Queue\Jobs\Job;
use Illuminate\Queue\MaxAttemptsExceededException;
use Illuminate\Support\Str;
use Throwable;

/**
 * A job reserved from a dq pull topic. Laravel settles it through dq: delete() acks it,
 * release($delay) retries it after $delay seconds, and a failed job (fail(), or tries used up)
 * becomes a dq dead letter with the exception as its last error, rather than being acked, so it
 * shows in dq's admin UI as well as in Laravel's failed_jobs.
 *
 * Two attempt limits meet here, Laravel's `tries` and the topic's `max_attempts`; the lower wins:
 * - tries lower: on the last try Laravel fails the job, which makes it a dq dead letter;
 * - max_attempts lower: releasing the job after dq's last attempt makes it a dead letter in dq
 *   (Dq\Job::retry() returns false); the job is then failed in Laravel too, with a
 *   MaxAttemptsExceededException naming max_attempts, so failed_jobs and the job's failed() see it.
 * attempts() is dq's attempt number, which also counts reservations whose lease expired (a worker
 * killed, or a job running past the topic's timeout_ms).
 */
class DqJob extends Job implements JobContract
{
    /** Longest last error handed to dq (Laravel's exceptions can carry whole SQL statements). */
    private const REASON_LIMIT = 2000;

    /** @var \Dq\JobInterface|\DqFfi\Job */
    protected object $dqJob;

    protected DqQueue $dq;

    protected string $rawBody;

    /** What fail() was given, for dq's last error. */
    protected ?Throwable $failure = null;

    /** @param \Dq\JobInterface|\DqFfi\Job $dqJob */
    public function __construct(Container $container, DqQueue $dq, object $dqJob, ?string $connectionName, string $queue)
    {
        $this->container = $container;
        $this->dq = $dq;
        $this->dqJob = $dqJob;
        $this->connectionName = $connectionName;
        $this->queue = $queue;
        $body = $dqJob->body();
        // A message added by another producer with an array body still reads as a payload.
        $this->rawBody = is_string($body) ? $body : (string) json_encode($body, JSON_UNESCAPED_UNICODE);
    }

    /** The dq message id: the payload's uuid for jobs that Laravel queued. */
    public function getJobId()
    {
        return $this->dqJob->id();
    }

    public function getRawBody()
    {
        return $this->rawBody;
    }

    /** dq's attempt number, 1 for the first. */
    public function attempts()
    {
        return $this->dqJob->attempt();
    }

    /** @param int|float|\DateInterval|\DateTimeInterface $delay */
    public function release($delay = 0)
    {
        parent::release($delay);
        if ($this->dqJob->retry(Delay::seconds($delay))) {
            return;
        }
        $this->fail(new MaxAttemptsExceededException(sprintf(
            '%s was released after attempt %d of the %d that dq topic "%s" allows (its max_attempts, lower than the job\'s tries): dq made it a dead letter',
            $this->resolveName(),
            $this->dqJob->attempt(),
            $this->dqJob->maxAttempts(),
            $this->queue,
        )));
    }

    /** Acks the job, or, for a failed job, makes it a dq dead letter. */
    public function delete()
    {
        parent::delete();
        // Settled already: acked, or made a dead letter by dq when released (see release()).
        if ($this->dqJob->settled()) {
            return;
        }
        if ($this->hasFailed()) {
            $this->dqJob->fail($this->reason());
            return;
        }
        $this->dqJob->ack();
    }

    public function fail($e = null)
    {
        $this->failure ??= $e;
        parent::fail($e);
    }

    /** @return \Dq\JobInterface|\DqFfi\Job the reserved dq job (lease, due time, ...) */
    public function getDqJob(): object
    {
        return $this->dqJob;
    }

    public function getDqQueue(): DqQueue
    {
        return $this->dq;
    }

    /** The last error of the dead letter, in the shape Dq\Client::work() gives it. */
    protected function reason(): string
    {
        $reason = $this->failure === null
            ? 'failed by Laravel (markAsFailed or fail without an exception)'
            : get_class($this->failure) . ': ' . $this->failure->getMessage();
        // dq takes UTF-8 only; exception messages need not be.
        return Str::limit(mb_scrub($reason, 'UTF-8'), self::REASON_LIMIT);
    }
}
