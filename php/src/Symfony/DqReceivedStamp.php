<?php

declare(strict_types=1);

namespace Dq\Symfony;

use Symfony\Component\Messenger\Stamp\NonSendableStampInterface;

/**
 * The dq job a message was received as: ack and reject settle it. Handlers may read it for the
 * attempt number or the lease; not sent on (a lease means nothing to another transport).
 */
final class DqReceivedStamp implements NonSendableStampInterface
{
    /** @param \Dq\JobInterface|object $job Dq\Job, or the FFI client's DqFfi\Job */
    public function __construct(private readonly object $job)
    {
    }

    /** @return \Dq\JobInterface */
    public function job(): object
    {
        return $this->job;
    }
}
