<?php

declare(strict_types=1);

namespace Dq\Laravel;

use DateInterval;
use DateTimeImmutable;
use DateTimeInterface;

/** Laravel's delays (seconds, a DateInterval, a moment) as the seconds dq takes, to the microsecond. */
final class Delay
{
    /** @param int|float|DateInterval|DateTimeInterface|null $delay */
    public static function seconds(mixed $delay): float
    {
        if ($delay instanceof DateInterval) {
            $delay = (new DateTimeImmutable())->add($delay);
        }
        if ($delay instanceof DateTimeInterface) {
            // Laravel's secondsUntil() would round to whole seconds; dq keeps milliseconds.
            return max(0.0, (float) $delay->format('U.u') - microtime(true));
        }
        if ($delay === null) {
            return 0.0;
        }
        if (is_int($delay) || is_float($delay) || (is_string($delay) && is_numeric($delay))) {
            return max(0.0, (float) $delay);
        }
        throw new \Dq\InvalidArgumentException(sprintf('delay is %s: expected seconds, a DateInterval or a DateTimeInterface', get_debug_type($delay)), 2);
    }
}
