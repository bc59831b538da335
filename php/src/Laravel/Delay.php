<?php

declare(strict_types=1);

namespace Dq\Laravel;

/** Laravel's delays (seconds, a DateInterval, a moment, null for none) as the seconds dq takes. */
final class Delay
{
    /** @param int|float|\DateInterval|\DateTimeInterface|null $delay */
    public static function seconds(mixed $delay): float
    {
        if ($delay === null) {
            return 0.0;
        }
        return \Dq\Support\Delay::seconds($delay)
            ?? throw new \Dq\InvalidArgumentException(sprintf('delay is %s: expected seconds, a DateInterval or a DateTimeInterface', get_debug_type($delay)), 2);
    }
}
