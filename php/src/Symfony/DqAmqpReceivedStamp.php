<?php

declare(strict_types=1);

namespace Dq\Symfony;

use Symfony\Component\Messenger\Stamp\NonSendableStampInterface;

/**
 * The RabbitMQ delivery a message was received as: ack and reject settle it. Handlers may read
 * its properties (redelivered, routing key); not sent on (it holds a channel of this process).
 */
final class DqAmqpReceivedStamp implements NonSendableStampInterface
{
    /** @param \Dq\DeliveryInterface $delivery */
    public function __construct(private readonly object $delivery, private readonly string $queue)
    {
    }

    /** The queue it was taken from: a retry goes back to that queue alone. */
    public function queue(): string
    {
        return $this->queue;
    }

    /** @return \Dq\DeliveryInterface */
    public function delivery(): object
    {
        return $this->delivery;
    }
}
