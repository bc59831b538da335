<?php

declare(strict_types=1);

namespace Dq\Laravel;

/**
 * A Laravel queue with no dq pull topic of its name. A Dq\UnknownTopicException (code 3), so
 * code that catches dq's exception still does; the message says how to create the topic.
 */
class UnknownQueueException extends \Dq\UnknownTopicException
{
    public static function forQueue(string $queue, ?string $connection, \Dq\UnknownTopicException $previous): self
    {
        $name = json_encode($queue, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);
        return new self(sprintf(
            'Laravel queue %s (connection "%s") has no dq pull topic: create it in dq-gateway\'s config ([[topic]] name = %s mode = "pull") or over HTTP (PUT /v1/topics/%s {"mode": "pull"}). dq said: %s',
            $name,
            $connection ?? 'dq',
            $name,
            rawurlencode($queue),
            $previous->getMessage(),
        ), $previous->getCode(), $previous);
    }
}
