<?php

declare(strict_types=1);

namespace Dq\Think;

use DateInterval;
use DateTimeInterface;
use Dq\Support\Delay;
use InvalidArgumentException;
use think\queue\Connector as QueueConnector;

/**
 * think-queue's connector over dq's delay queue: each queue is a dq topic registered with
 * "mode": "pull" (dq-gateway: PUT /v1/topics/{queue}). push/later add a message, pop reserves
 * one (Client::reserve), and the Job settles it; dq keeps the attempts, the lease (the topic's
 * timeout_ms, think-queue's retry_after) and the dead letters.
 *
 * config/queue.php: 'connections' => ['dq' => ['type' => \Dq\Think\Connector::class,
 * 'queue' => 'default', 'prefix' => 'dq', 'block_for' => 1]]. Redis is the dq.redis ini setting,
 * or 'redis' (as Dq\Client takes it), or the redis connector's host, port, password and select
 * ('persistent' is taken and ignored: dq keeps its connections per process anyway).
 */
class Connector extends QueueConnector
{
    private const KEYS = ['type', 'queue', 'redis', 'host', 'port', 'password', 'select', 'persistent', 'prefix', 'timeout', 'block_for'];

    /** @var \Dq\ClientInterface */
    protected object $client;

    protected string $default;

    /** Seconds pop() waits for a job (upstream's block_for; 0 returns at once, as upstream's null). */
    protected float $blockFor;

    /**
     * @param array<string, mixed> $config the connection's config (think's Queue manager passes it)
     * @param \Dq\ClientInterface|null $client a client of your own (a mock, DqFfi\Client); else one from $config
     */
    public function __construct(array $config = [], ?object $client = null)
    {
        foreach (array_keys($config) as $key) {
            if ($key === 'retry_after') {
                throw new InvalidArgumentException('queue config "retry_after": dq leases a job for its topic\'s timeout_ms instead; set that on the topic (PUT /v1/topics/{queue} with {"mode": "pull", "timeout_ms": ...})');
            }
            if (!in_array($key, self::KEYS, true)) {
                throw new InvalidArgumentException(sprintf('queue config "%s" is unknown to %s; it takes %s', $key, self::class, implode(', ', self::KEYS)));
            }
        }
        $this->default = (string) ($config['queue'] ?? 'default');
        $blockFor = $config['block_for'] ?? 0;
        if (!is_numeric($blockFor) || $blockFor < 0 || $blockFor > 60) {
            throw new InvalidArgumentException(sprintf('queue config "block_for" must be seconds from 0 to 60, got %s', var_export($blockFor, true)));
        }
        $this->blockFor = (float) $blockFor;
        $this->client = $client ?? new \Dq\Client(self::clientOptions($config));
    }

    /** Jobs waiting, due later, or reserved (as the redis connector counts), not dead letters. */
    public function size($queue = null): int
    {
        $stats = $this->client->stats($this->topic($queue));

        return $stats['delayed'] + $stats['ready'] + $stats['inflight'];
    }

    /** @return string the job's id */
    public function push($job, $data = '', $queue = null): string
    {
        return $this->pushRaw($this->createPayload($job, $data), $queue);
    }

    /**
     * @param array{delay?: int|float} $options
     * @return string the payload's "id", or a new one when it has none
     */
    public function pushRaw($payload, $queue = null, array $options = []): string
    {
        return $this->add((string) $payload, $queue, self::seconds($options['delay'] ?? 0));
    }

    /**
     * @param int|float|DateTimeInterface|DateInterval $delay seconds, or when
     * @return string the job's id
     */
    public function later($delay, $job, $data = '', $queue = null): string
    {
        return $this->add($this->createPayload($job, $data), $queue, self::seconds($delay));
    }

    /** The next due job of $queue, waiting up to block_for seconds; null if none. */
    public function pop($queue = null): ?Job
    {
        $topic = $this->topic($queue);
        $reserved = $this->client->reserve($topic, $this->blockFor);
        if ($reserved === null) {
            return null;
        }

        // Older 3.x releases named the connection connectorName.
        return new Job($this->app, $reserved, $this->connection ?? ($this->connectorName ?? null), $topic);
    }

    /** Seconds from now of a delay given as think-queue takes them; never negative. */
    public static function seconds(mixed $delay): float
    {
        return Delay::seconds($delay)
            ?? throw new InvalidArgumentException(sprintf('a delay is seconds, a DateTimeInterface or a DateInterval, got %s', get_debug_type($delay)));
    }

    /** Each payload gets an id, as the redis connector's does: it is the dq message's id. */
    protected function createPayloadArray($job, $data = '')
    {
        return array_merge(parent::createPayloadArray($job, $data), ['id' => bin2hex(random_bytes(16))]);
    }

    /**
     * Adds the payload as a dq message: its JSON as the body (readable in dq's admin UI and
     * dead letters), the payload's id as the message's id. Without a delay it is due at once,
     * whatever the topic's default delay.
     */
    protected function add(string $payload, ?string $queue, float $delay): string
    {
        $decoded = json_decode($payload, true);
        $id = is_array($decoded) && is_string($decoded['id'] ?? null) && $decoded['id'] !== '' ? $decoded['id'] : bin2hex(random_bytes(16));
        $this->client->add($this->topic($queue), ['id' => $id, 'body' => is_array($decoded) ? $decoded : $payload, 'delay' => $delay]);

        return $id;
    }

    protected function topic(?string $queue): string
    {
        return $queue === null || $queue === '' ? $this->default : $queue;
    }

    /** Dq\Client's options from the connection's config. */
    private static function clientOptions(array $config): array
    {
        $options = [];
        if (isset($config['redis'])) {
            $options['redis'] = $config['redis'];
        } elseif (isset($config['host'])) {
            $password = (string) ($config['password'] ?? '');
            $options['redis'] = sprintf('redis://%s%s:%d/%d', $password === '' ? '' : ':' . rawurlencode($password) . '@', $config['host'], (int) ($config['port'] ?? 6379), (int) ($config['select'] ?? 0));
        }
        if (isset($config['prefix'])) {
            $options['prefix'] = $config['prefix'];
        }
        // The redis connector's timeout 0 means "no limit"; dq's is always bounded.
        if (!empty($config['timeout'])) {
            $options['timeout'] = $config['timeout'];
        }

        return $options;
    }
}
