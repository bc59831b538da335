<?php
// Shared by bench/amqp-*.php: the contenders (dq, php-amqplib, pecl amqp), a vhost of each
// measurement's own, worker processes started together, medians. See bench/amqp.sh.

declare(strict_types=1);

require_once __DIR__ . '/../php-tests/inc/dq.inc';   // dq_rabbitmqctl()
require_once '/usr/share/php/PhpAmqpLib/autoload.php';

use PhpAmqpLib\Connection\AMQPStreamConnection;
use PhpAmqpLib\Message\AMQPMessage;

const BENCH_HOST = '127.0.0.1';
const BENCH_PORT = 5672;

/** The message every contender publishes: a ~200-byte order event, persistent. */
function bench_body(): string
{
    return json_encode([
        'event' => 'order.created', 'order_id' => 1234567, 'user_id' => 42, 'amount' => '99.50',
        'currency' => 'CNY', 'items' => [['sku' => 'A-1001', 'qty' => 2], ['sku' => 'B-2002', 'qty' => 1]],
        'created_at' => '2026-11-21T10:00:00+08:00', 'notify' => 'https://merchant.example/notify',
    ]);
}

/**
 * A RabbitMQ vhost for one measurement (guest may use it), deleted with everything in it when
 * the object goes, at exit, or by bench/amqp.sh's trap (names start with $DQ_BENCH_RUN).
 */
final class BenchVhost
{
    /** @var array<string, true> every vhost of this process not yet deleted */
    private static array $open = [];
    public string $name;

    public function __construct(string $label)
    {
        $run = getenv('DQ_BENCH_RUN') ?: 'dqbench-amqp-' . getmypid();
        $this->name = "$run-$label-" . bin2hex(random_bytes(3));
        if (!self::$open) {
            register_shutdown_function([self::class, 'deleteAll']);
        }
        self::$open[$this->name] = true;
        dq_rabbitmqctl(['add_vhost', $this->name]);
        dq_rabbitmqctl(['set_permissions', '-p', $this->name, 'guest', '.*', '.*', '.*']);
    }

    public function url(): string
    {
        return 'amqp://guest:guest@' . BENCH_HOST . ':' . BENCH_PORT . '/' . rawurlencode($this->name);
    }

    public function delete(): void
    {
        if (isset(self::$open[$this->name])) {
            unset(self::$open[$this->name]);
            dq_rabbitmqctl(['delete_vhost', $this->name], false);
        }
    }

    public function __destruct()
    {
        $this->delete();
    }

    public static function deleteAll(): void
    {
        foreach (array_keys(self::$open) as $name) {
            unset(self::$open[$name]);
            dq_rabbitmqctl(['delete_vhost', $name], false);
        }
    }
}

/** pecl amqp's connection settings for $vhost. */
function bench_pecl_credentials(string $vhost): array
{
    return ['host' => BENCH_HOST, 'port' => BENCH_PORT, 'vhost' => $vhost, 'login' => 'guest', 'password' => 'guest',
        'read_timeout' => 5, 'write_timeout' => 5, 'connect_timeout' => 5];
}

/** Puts a pecl amqp channel in confirm mode: waitForConfirm() returns after the next ack, throws on a nack. */
function bench_pecl_confirming(AMQPChannel $channel): void
{
    $channel->confirmSelect();
    $channel->setConfirmCallback(
        fn (int $tag, bool $multiple): bool => false,   // false: stop waiting, the message is confirmed
        function (int $tag, bool $multiple, bool $requeue): bool {
            throw new RuntimeException("pecl amqp: message $tag nacked");
        },
    );
}

/**
 * The contenders. Each returns [setup, one]: setup() runs once per process before the clock
 * starts (what a long-lived FPM worker already has); one() does one unit of work and returns
 * how many messages it published (all confirmed).
 * @return array{0: callable(): void, 1: callable(): int}
 */
function bench_contender(string $name, string $vhost, string $queue): array
{
    $url = 'amqp://guest:guest@' . BENCH_HOST . ':' . BENCH_PORT . '/' . rawurlencode($vhost);
    $body = bench_body();
    // "<contender>-transient": the same with transient messages (to a non-durable queue).
    $persistent = !str_ends_with($name, '-transient');
    $name = preg_replace('/-transient$/', '', $name);
    $mode = $persistent ? 2 : 1;
    $none = function (): void {};
    switch ($name) {
        // A: what one FPM request does to publish one event and know the broker has it.
        case 'dq-request':
            // A new Dq\Producer per request; it picks up the process's pooled connection.
            return [$none, function () use ($url, $queue, $body): int {
                (new Dq\Producer(['amqp' => $url]))->publish('', $queue, $body);
                return 1;
            }];
        case 'amqplib-request':
            return [$none, function () use ($vhost, $queue, $body): int {
                $connection = new AMQPStreamConnection(BENCH_HOST, BENCH_PORT, 'guest', 'guest', $vhost);
                $channel = $connection->channel();
                $channel->confirm_select();
                $channel->set_nack_handler(function () { throw new RuntimeException('php-amqplib: message nacked'); });
                $channel->basic_publish(new AMQPMessage($body, ['delivery_mode' => AMQPMessage::DELIVERY_MODE_PERSISTENT]), '', $queue);
                $channel->wait_for_pending_acks(5.0);
                $channel->close();
                $connection->close();
                return 1;
            }];
        case 'pecl-request':
            // pconnect(): the connection outlives the request; the channel and confirm mode do not.
            return [$none, function () use ($vhost, $queue, $body): int {
                $connection = new AMQPConnection(bench_pecl_credentials($vhost));
                $connection->pconnect();
                $channel = new AMQPChannel($connection);
                bench_pecl_confirming($channel);
                $exchange = new AMQPExchange($channel);
                $exchange->publish($body, $queue, AMQP_NOPARAM, ['delivery_mode' => 2]);
                $channel->waitForConfirm(5.0);
                return 1;
            }];

        // B: a long-lived loop (a CLI worker), one connection, a confirm per message.
        case 'dq-loop':
            $producer = new Dq\Producer(['amqp' => $url]);
            return [$none, function () use ($producer, $queue, $body, $persistent): int {
                $producer->publish('', $queue, $body, ['persistent' => $persistent]);
                return 1;
            }];
        // The same loop in a process that also consumes: on the background thread's connection.
        case 'dq-loop-consuming':
            $producer = new Dq\Producer(['amqp' => $url]);
            $state = new stdClass();
            return [function () use ($state, $producer, $url): void {
                // A queue of its own to consume (empty): the process is on lapin's connection.
                $own = $producer->declareQueue('', ['exclusive' => true, 'durable' => false]);
                $state->consumer = new Dq\Consumer($own, ['amqp' => $url]);
                $state->consumer->next(0.01);
            }, function () use ($producer, $queue, $body, $persistent): int {
                $producer->publish('', $queue, $body, ['persistent' => $persistent]);
                return 1;
            }];
        case 'amqplib-loop':
            $state = new stdClass();
            return [function () use ($state, $vhost): void {
                $state->connection = new AMQPStreamConnection(BENCH_HOST, BENCH_PORT, 'guest', 'guest', $vhost);
                $state->channel = $state->connection->channel();
                $state->channel->confirm_select();
                $state->channel->set_nack_handler(function () { throw new RuntimeException('php-amqplib: message nacked'); });
            }, function () use ($state, $queue, $body, $mode): int {
                $state->channel->basic_publish(new AMQPMessage($body, ['delivery_mode' => $mode]), '', $queue);
                $state->channel->wait_for_pending_acks(5.0);
                return 1;
            }];
        case 'pecl-loop':
            $state = new stdClass();
            return [function () use ($state, $vhost): void {
                $state->connection = new AMQPConnection(bench_pecl_credentials($vhost));
                $state->connection->connect();
                $state->channel = new AMQPChannel($state->connection);
                bench_pecl_confirming($state->channel);
                $state->exchange = new AMQPExchange($state->channel);
            }, function () use ($state, $queue, $body, $mode): int {
                $state->exchange->publish($body, $queue, AMQP_NOPARAM, ['delivery_mode' => $mode]);
                $state->channel->waitForConfirm(5.0);
                return 1;
            }];
        // The broker's ceiling for batches: pecl amqp (the lightest client) publishing 1,000 and
        // awaiting their confirms with one waitForConfirm.
        case 'pecl-batch':
            $state = new stdClass();
            return [function () use ($state, $vhost): void {
                $state->connection = new AMQPConnection(bench_pecl_credentials($vhost));
                $state->connection->connect();
                $state->channel = new AMQPChannel($state->connection);
                $state->sent = 0;
                $state->channel->confirmSelect();
                $state->channel->setConfirmCallback(
                    // Keep waiting until the batch's last delivery tag is acked.
                    fn (int $tag, bool $multiple): bool => $tag < $state->sent,
                    function (int $tag): bool {
                        throw new RuntimeException("pecl amqp: message $tag nacked");
                    },
                );
                $state->exchange = new AMQPExchange($state->channel);
            }, function () use ($state, $queue, $body): int {
                for ($i = 0; $i < 1000; $i++) {
                    $state->exchange->publish($body, $queue, AMQP_NOPARAM, ['delivery_mode' => 2]);
                }
                $state->sent += 1000;
                $state->channel->waitForConfirm(5.0);
                return 1000;
            }];
        case 'dq-batch':
            $producer = new Dq\Producer(['amqp' => $url]);
            $batch = array_fill(0, 1000, ['routing_key' => $queue, 'body' => $body]);
            return [$none, function () use ($producer, $batch): int {
                $confirmed = $producer->publishBatch('', $batch);
                if ($confirmed !== count($batch)) {
                    throw new RuntimeException("publishBatch confirmed $confirmed of " . count($batch));
                }
                return $confirmed;
            }];
    }
    throw new InvalidArgumentException("unknown contender $name");
}

/**
 * Runs $contender in $processes worker processes (bench/amqp-worker.php) that start their
 * clocks together and publish for $seconds; returns the sum of their rates (messages/s).
 */
function bench_processes(string $contender, int $processes, BenchVhost $vhost, string $queue, float $seconds): float
{
    $php = [PHP_BINARY, ...array_values(array_filter(explode("\n", (string) getenv('DQ_BENCH_PHP_FLAGS'))))];
    $workers = [];
    $stop = function () use (&$workers): void {
        foreach ($workers as [$process]) {
            if (is_resource($process)) {
                proc_terminate($process, 9);
                proc_close($process);
            }
        }
        $workers = [];
    };
    try {
        for ($i = 0; $i < $processes; $i++) {
            $process = proc_open([...$php, __DIR__ . '/amqp-worker.php', $contender, $vhost->name, $queue, (string) $seconds],
                [0 => ['pipe', 'r'], 1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes);
            if (!is_resource($process)) {
                throw new RuntimeException("cannot start a $contender worker");
            }
            $workers[] = [$process, $pipes];
        }
        // Everyone connected and warmed up, then go at once.
        foreach ($workers as [, $pipes]) {
            bench_expect($pipes, 'ready', 30.0, $contender);
        }
        foreach ($workers as [, $pipes]) {
            fwrite($pipes[0], "go\n");
        }
        $rate = 0.0;
        foreach ($workers as [, $pipes]) {
            [$count, $elapsed] = array_map('floatval', explode(' ', bench_expect($pipes, null, $seconds + 30.0, $contender)));
            $rate += $count / $elapsed;
        }
        return $rate;
    } finally {
        $stop();
    }
}

/** The next line of a worker's stdout (which must be $want if given); its stderr on failure. */
function bench_expect(array $pipes, ?string $want, float $timeout, string $contender): string
{
    $deadline = microtime(true) + $timeout;
    stream_set_blocking($pipes[1], false);
    $line = '';
    while (!str_ends_with($line, "\n")) {
        $left = $deadline - microtime(true);
        $read = [$pipes[1]];
        $none = null;
        if ($left <= 0 || @stream_select($read, $none, $none, (int) $left, (int) (fmod($left, 1) * 1e6)) === false) {
            break;
        }
        $chunk = fgets($pipes[1]);
        if ($chunk === false) {
            if (feof($pipes[1])) {
                break;
            }
            continue;
        }
        $line .= $chunk;
    }
    $line = trim($line);
    if ($line === '' || ($want !== null && $line !== $want)) {
        stream_set_blocking($pipes[2], false);
        throw new RuntimeException("$contender worker: expected " . ($want ?? 'its count') . ", got \"$line\"; stderr: " . trim((string) stream_get_contents($pipes[2])));
    }
    return $line;
}

function bench_median(array $values): float
{
    sort($values);
    $n = count($values);
    return $n % 2 ? $values[intdiv($n, 2)] : ($values[$n / 2 - 1] + $values[$n / 2]) / 2;
}

/** "1,234 msg/s  (1,100-1,300)" */
function bench_rate(array $rates): string
{
    return sprintf('%9s msg/s  (%s-%s)', number_format(bench_median($rates)), number_format(min($rates)), number_format(max($rates)));
}

/** "5.3x  (target >= 5x; $note)" and a mark when below. */
function bench_ratio(float $ratio, float $target, string $note = ''): string
{
    return sprintf('%5.2fx  (target >= %sx%s)%s', $ratio, rtrim(rtrim(number_format($target, 1), '0'), '.'),
        $note === '' ? '' : "; $note", $ratio >= $target ? '' : '  << BELOW TARGET');
}

/** Lets ctrl-c and SIGTERM run the shutdown functions (workers stopped, vhosts deleted). */
function bench_exit_on_signals(): void
{
    pcntl_async_signals(true);
    foreach ([SIGINT, SIGTERM] as $signal) {
        pcntl_signal($signal, fn () => exit(130));
    }
}
