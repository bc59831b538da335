<?php

declare(strict_types=1);

namespace Dq\Symfony;

use Symfony\Component\Messenger\Exception\InvalidArgumentException;
use Symfony\Component\Messenger\Exception\LogicException;
use Symfony\Component\Messenger\Transport\Serialization\SerializerInterface;
use Symfony\Component\Messenger\Transport\TransportFactoryInterface;
use Symfony\Component\Messenger\Transport\TransportInterface;

/**
 * Messenger transports over dq, chosen by the DSN:
 *
 *  - dq://host:port/topic?prefix=app&timeout=3&block_for=1&db=0 (or dq://default/topic for the
 *    dq.redis ini setting): a pull topic of dq's delay queue, see DqTransport;
 *  - dq+amqp://user:pass@host:port/vhost/queue?exchange=&routing_key=&auto_setup=1 (or
 *    dq+amqp://default/queue for the dq.amqp ini setting): RabbitMQ, see DqAmqpTransport.
 *
 * The DSN's query wins over the transport's `options`, as with Symfony's own transports.
 * Register it with the `messenger.transport_factory` tag.
 */
final class DqTransportFactory implements TransportFactoryInterface
{
    private const DELAY_QUEUE_OPTIONS = ['prefix', 'timeout', 'block_for', 'db'];
    private const AMQP_OPTIONS = ['exchange', 'exchange_type', 'routing_key', 'auto_setup', 'prefetch', 'block_for', 'timeout', 'prefix'];

    public function createTransport(#[\SensitiveParameter] string $dsn, array $options, SerializerInterface $serializer): TransportInterface
    {
        // FrameworkBundle adds the transport's name to every transport's options.
        unset($options['transport_name']);
        $parsed = Dsn::parse($dsn);
        $settings = $parsed->query + $options;

        return $parsed->scheme === 'dq'
            ? $this->delayQueue($parsed, $settings, $serializer)
            : $this->amqp($parsed, $settings, $serializer);
    }

    public function supports(#[\SensitiveParameter] string $dsn, array $options): bool
    {
        return str_starts_with($dsn, 'dq://') || str_starts_with($dsn, 'dq+amqp://');
    }

    private function delayQueue(Dsn $dsn, array $settings, SerializerInterface $serializer): DqTransport
    {
        self::refuseUnknown($settings, self::DELAY_QUEUE_OPTIONS, $dsn);
        if (count($dsn->path) !== 1) {
            throw new InvalidArgumentException(sprintf('The path of DSN "%s" must name one topic, as in dq://default/orders; found %d path segments.', $dsn->shown, count($dsn->path)));
        }
        $options = [];
        if (!$dsn->isDefaultHost()) {
            $db = self::integer('db', $settings['db'] ?? 0, 0, 1 << 20, $dsn);
            $options['redis'] = array_map(static fn (array $h): string => self::redisUrl($dsn, $h, $db), $dsn->hosts);
        } elseif (isset($settings['db'])) {
            throw new InvalidArgumentException(sprintf('Option "db" of DSN "%s" needs a Redis host in the DSN: dq://default/... uses the dq.redis ini setting, which names its own database.', $dsn->shown));
        }
        self::refuseCredentialsForDefault($dsn, 'dq.redis');
        $options += self::common($settings, $dsn);
        $blockFor = self::seconds('block_for', $settings['block_for'] ?? 1.0, 0.0, 60.0, $dsn);
        if (!class_exists(\Dq\Client::class)) {
            throw new LogicException('dq:// needs Dq\Client: load the dq extension (dq.so), or the FFI client examples/ffi/DqFfi.php with class_alias(DqFfi\Client::class, \'Dq\Client\').');
        }
        try {
            $client = new \Dq\Client($options);
        } catch (\Dq\Exception $e) {
            throw new InvalidArgumentException(sprintf('DSN "%s": %s', $dsn->shown, $e->getMessage()), 0, $e);
        }

        return new DqTransport($client, $dsn->path[0], $serializer, $blockFor);
    }

    private function amqp(Dsn $dsn, array $settings, SerializerInterface $serializer): DqAmqpTransport
    {
        self::refuseUnknown($settings, self::AMQP_OPTIONS, $dsn);
        $wanted = $dsn->isDefaultHost() ? 'dq+amqp://default/queue' : 'dq+amqp://user:pass@host:port/vhost/queue (vhost "/" is %2f)';
        $expected = $dsn->isDefaultHost() ? 1 : 2;
        if (count($dsn->path) !== $expected) {
            throw new InvalidArgumentException(sprintf('The path of DSN "%s" must be %s, as in %s; found %d path segments.', $dsn->shown, $expected === 1 ? 'the queue' : 'the vhost and the queue', $wanted, count($dsn->path)));
        }
        if (count($dsn->hosts) > 1) {
            throw new InvalidArgumentException(sprintf('DSN "%s" names %d hosts: dq+amqp:// takes one (for a cluster, set dq.amqp and use dq+amqp://default/queue).', $dsn->shown, count($dsn->hosts)));
        }
        $options = self::common($settings, $dsn);
        self::refuseCredentialsForDefault($dsn, 'dq.amqp');
        if (!$dsn->isDefaultHost()) {
            $options['amqp'] = self::amqpUrl($dsn);
        }
        $queue = $dsn->path[$expected - 1];
        $target = [
            'queue' => $queue,
            'exchange' => self::text('exchange', $settings['exchange'] ?? '', $dsn, true),
            'exchange_type' => self::text('exchange_type', $settings['exchange_type'] ?? 'direct', $dsn),
            'routing_key' => self::text('routing_key', $settings['routing_key'] ?? $queue, $dsn, true),
            'auto_setup' => self::boolean('auto_setup', $settings['auto_setup'] ?? false, $dsn),
            'block_for' => self::seconds('block_for', $settings['block_for'] ?? 1.0, 0.0, 60.0, $dsn),
        ];
        $consumer = $options;
        if (isset($settings['prefetch'])) {
            $consumer['prefetch'] = self::integer('prefetch', $settings['prefetch'], 1, 65535, $dsn);
        }

        return new DqAmqpTransport($target, $options, $consumer, $serializer);
    }

    /** The options that Dq\Client, Dq\Producer and Dq\Consumer all take. */
    private static function common(array $settings, Dsn $dsn): array
    {
        $options = [];
        if (isset($settings['prefix'])) {
            $options['prefix'] = self::text('prefix', $settings['prefix'], $dsn);
        }
        if (isset($settings['timeout'])) {
            $options['timeout'] = self::seconds('timeout', $settings['timeout'], 0.001, 3600.0, $dsn);
        }

        return $options;
    }

    /** @param array{host: string, port: ?int} $host */
    private static function redisUrl(Dsn $dsn, array $host, int $db): string
    {
        return 'redis://' . self::userinfo($dsn) . $host['host'] . ':' . ($host['port'] ?? 6379) . '/' . $db;
    }

    private static function amqpUrl(Dsn $dsn): string
    {
        $host = $dsn->hosts[0];

        return 'amqp://' . self::userinfo($dsn) . $host['host'] . ':' . ($host['port'] ?? 5672) . '/' . rawurlencode($dsn->path[0]);
    }

    private static function userinfo(Dsn $dsn): string
    {
        if ($dsn->user === null) {
            return '';
        }

        return rawurlencode($dsn->user) . ($dsn->password === null ? '' : ':' . rawurlencode($dsn->password)) . '@';
    }

    /** "default" is the ini setting, which holds its own user and password. */
    private static function refuseCredentialsForDefault(Dsn $dsn, string $ini): void
    {
        if ($dsn->user !== null && $dsn->isDefaultHost()) {
            throw new InvalidArgumentException(sprintf('DSN "%s" gives a user or password to "default": put them in the %s ini setting, or name the host.', $dsn->shown, $ini));
        }
    }

    /** @param list<string> $known */
    private static function refuseUnknown(array $settings, array $known, Dsn $dsn): void
    {
        foreach (array_keys($settings) as $name) {
            if (in_array($name, $known, true)) {
                continue;
            }
            $closest = null;
            foreach ($known as $candidate) {
                if (levenshtein((string) $name, $candidate) <= 2) {
                    $closest = $candidate;
                }
            }
            throw new InvalidArgumentException(sprintf(
                'Unknown option "%s" for DSN "%s"%s; %s:// takes %s.',
                $name,
                $dsn->shown,
                $closest === null ? '' : sprintf(' (did you mean "%s"?)', $closest),
                $dsn->scheme,
                implode(', ', $known),
            ));
        }
    }

    private static function text(string $name, mixed $value, Dsn $dsn, bool $emptyAllowed = false): string
    {
        if (!is_string($value) || (!$emptyAllowed && $value === '')) {
            throw new InvalidArgumentException(sprintf('Option "%s" of DSN "%s" must be a %sstring, got %s.', $name, $dsn->shown, $emptyAllowed ? '' : 'non-empty ', is_string($value) ? "''" : get_debug_type($value)));
        }

        return $value;
    }

    private static function seconds(string $name, mixed $value, float $min, float $max, Dsn $dsn): float
    {
        if (!is_numeric($value) || (float) $value < $min || (float) $value > $max) {
            throw new InvalidArgumentException(sprintf('Option "%s" of DSN "%s" must be seconds from %s to %s, got %s.', $name, $dsn->shown, $min, $max, var_export($value, true)));
        }

        return (float) $value;
    }

    private static function integer(string $name, mixed $value, int $min, int $max, Dsn $dsn): int
    {
        $int = filter_var($value, FILTER_VALIDATE_INT);
        if ($int === false || $int < $min || $int > $max) {
            throw new InvalidArgumentException(sprintf('Option "%s" of DSN "%s" must be a whole number from %d to %d, got %s.', $name, $dsn->shown, $min, $max, var_export($value, true)));
        }

        return $int;
    }

    private static function boolean(string $name, mixed $value, Dsn $dsn): bool
    {
        $bool = is_bool($value) ? $value : filter_var($value, FILTER_VALIDATE_BOOLEAN, FILTER_NULL_ON_FAILURE);
        if ($bool === null) {
            throw new InvalidArgumentException(sprintf('Option "%s" of DSN "%s" must be true or false (1, 0, yes, no), got %s.', $name, $dsn->shown, var_export($value, true)));
        }

        return $bool;
    }
}
