<?php

declare(strict_types=1);

namespace Dq\Support;

use DateInterval;
use DateTimeImmutable;
use DateTimeInterface;

/** The delays the framework drivers are given, as the seconds from now dq takes. */
final class Delay
{
    /**
     * Seconds (a number or numeric string), a DateInterval or a moment as seconds from now, to
     * the microsecond (frameworks' own helpers round to whole seconds), never negative; null for
     * anything else, which each driver refuses in its framework's way.
     */
    public static function seconds(mixed $delay): ?float
    {
        if ($delay instanceof DateInterval) {
            $delay = (new DateTimeImmutable())->add($delay);
        }
        if ($delay instanceof DateTimeInterface) {
            return max(0.0, (float) $delay->format('U.u') - microtime(true));
        }
        if (is_int($delay) || is_float($delay) || (is_string($delay) && is_numeric($delay))) {
            return max(0.0, (float) $delay);
        }
        return null;
    }
}
