<?php

declare(strict_types=1);

namespace Dq\Laravel;

use Illuminate\Queue\Connectors\ConnectorInterface;

/**
 * Makes a DqQueue from a connection of config/queue.php:
 *
 *     'dq' => ['driver' => 'dq', 'queue' => 'default', 'block_for' => 5],
 *
 * `queue` is the dq pull topic of jobs dispatched without a queue; `block_for` the seconds a
 * worker's reserve() waits for a job (0 to 60, default 0). With block_for, run the worker with
 * `--sleep=0`: it waits in dq, which hands it a job as soon as one is due and ends the wait at
 * once on SIGTERM, instead of sleeping after an empty wait;
 * `after_commit` as for Laravel's other drivers. Every other key (redis, prefix, timeout,
 * replicas, body_limit) is a Dq\Client option, checked by Dq\Client; a null one (an unset
 * env()) is left out, so the dq.* ini setting applies.
 */
class DqConnector implements ConnectorInterface
{
    /** Keys that Laravel owns; the rest go to Dq\Client. */
    private const LARAVEL_KEYS = ['driver', 'name', 'queue', 'block_for', 'after_commit'];

    public function connect(array $config)
    {
        $client = self::clientClass();
        $queue = $config['queue'] ?? null;
        if (!is_string($queue) || $queue === '') {
            throw self::invalid(sprintf(
                'the dq queue connection needs "queue", the dq pull topic of jobs dispatched without a queue (e.g. \'queue\' => \'default\' in config/queue.php): it %s',
                self::described($queue)
            ));
        }
        if (array_key_exists('retry_after', $config)) {
            throw self::invalid('"retry_after" is not a dq setting: a reserved job is leased for its topic\'s timeout_ms (set it on the topic, above the longest run of a job); remove "retry_after" from the dq connection');
        }
        // null (an unset env()) leaves the option to dq's default, the dq.* ini setting.
        $options = array_filter(array_diff_key($config, array_flip(self::LARAVEL_KEYS)), static fn ($value) => $value !== null);

        return new DqQueue(
            new $client($options),
            $queue,
            self::blockFor($config['block_for'] ?? null),
            (bool) ($config['after_commit'] ?? false),
        );
    }

    /** dq.so's Dq\Client, else the FFI client (examples/ffi/DqFfi.php), which has the same API. */
    private static function clientClass(): string
    {
        foreach (['Dq\\Client', 'DqFfi\\Client'] as $class) {
            if (class_exists($class)) {
                return $class;
            }
        }
        throw new \RuntimeException('the dq queue driver needs the dq extension (dq.so) or dq\'s FFI client (require examples/ffi/DqFfi.php); neither is loaded');
    }

    private static function blockFor(mixed $value): float
    {
        if ($value === null) {
            return 0.0;
        }
        // A string from env() counts as the number it spells.
        if (is_numeric($value) && $value >= 0 && $value <= 60) {
            return (float) $value;
        }
        throw self::invalid(sprintf('"block_for" of the dq queue connection %s: expected seconds from 0 to 60 (how long a worker waits for a job)', self::described($value)));
    }

    private static function described(mixed $value): string
    {
        return $value === null ? 'is missing' : 'is ' . json_encode($value, JSON_UNESCAPED_SLASHES | JSON_PARTIAL_OUTPUT_ON_ERROR);
    }

    private static function invalid(string $message): \Dq\InvalidArgumentException
    {
        return new \Dq\InvalidArgumentException($message, 2);
    }
}
