<?php
/**
 * IDE stubs for dq.so. Not loaded by PHP; the extension provides these classes. A test
 * (php-tests/016-stubs.phpt) checks them against reflection.
 */

namespace Dq {

    /** Base of every dq exception. getCode() is the stable error number of dq-core. */
    class Exception extends \RuntimeException {}

    /** A backend (Redis, RabbitMQ) could not be reached or the connection broke (code 4). */
    class ConnectionException extends Exception {}

    /** A backend did not answer within the timeout (code 5). */
    class TimeoutException extends Exception {}

    /** A bad argument: the message names the field and the value (code 2). */
    class InvalidArgumentException extends Exception {}

    /** The topic is not registered with dq-gateway, or is disabled (code 3). */
    class UnknownTopicException extends Exception {}

    /**
     * An XA transaction did not do what was asked (code 12): a statement failed (the message
     * names the database and the server's error), a branch failed to prepare so every branch
     * rolled back, or the transaction was already committed or rolled back.
     */
    class XaException extends Exception {}

    /**
     * What Dq\Client does with messages, for code that type-hints it and tests that hand it a
     * mock (PHPUnit's createMock(), or a class of their own). See Dq\Client for each method.
     */
    interface ClientInterface
    {
        public function add(string $topic, array $data): bool;

        public function get(string $topic, mixed $id): ?array;

        public function del(string $topic, mixed $id): bool;

        public function addMany(string $topic, array $items): int;

        public function stats(string $topic): array;

        public function reserve(string $topic, float $timeout = 1.0): ?JobInterface;

        public function work(string $topic, callable $handler, array $options = []): int;
    }

    /** What Dq\Job does, for code that type-hints it and tests that hand it a mock. See Dq\Job. */
    interface JobInterface
    {
        public function id(): string;

        public function topic(): string;

        public function body(): mixed;

        public function attempt(): int;

        public function maxAttempts(): int;

        public function dueAt(): float;

        public function lease(): string;

        public function leaseExpiresAt(): float;

        public function settled(): bool;

        public function ack(): void;

        public function retry(?float $delay = null): bool;

        public function fail(string $reason): void;
    }

    /** Publishing, as Dq\Producer does it; for type hints and mocks. */
    interface ProducerInterface
    {
        /** @param string|array $body */
        public function publish(string $exchange, string $routingKey, mixed $body, array $properties = []): void;

        /**
         * @param string|array $body
         * @param float $delay seconds
         */
        public function publishDelayed(string $exchange, string $routingKey, mixed $body, float $delay, array $properties = []): void;
    }

    /** Taking messages, as Dq\Consumer does it; for type hints and mocks. */
    interface ConsumerInterface
    {
        public function next(float $timeout = 1.0): ?DeliveryInterface;

        /** @param callable(DeliveryInterface): mixed $handler */
        public function consume(callable $handler, array $options = []): int;
    }

    /** A message taken from a queue, as Dq\Delivery is; for type hints and mocks. */
    interface DeliveryInterface
    {
        public function body(): string;

        /** @return array<string, mixed> */
        public function properties(): array;

        public function routingKey(): string;

        public function exchange(): string;

        public function redelivered(): bool;

        public function ack(): void;

        public function nack(bool $requeue = false): void;

        /** @param string|array $body */
        public function reply(mixed $body): void;
    }

    /**
     * The delay queue client; `DqClient` is the same class (php-delayqueue compatible).
     * Connections are kept per process, across requests, and rebuilt after a fork.
     */
    final class Client implements ClientInterface
    {
        /**
         * @param array{redis?: string|array<string|array{host?:string,port?:int,auth?:string,db?:int}>, prefix?: string, timeout?: int|float, body_limit?: int} $options
         *        Defaults come from the dq.redis, dq.prefix and dq.timeout ini settings.
         * @throws InvalidArgumentException on an unknown option or a bad value
         */
        public function __construct(array $options = []) {}

        /**
         * Adds Redis shard(s): "host:port[:auth]", a redis:// URL, or an array of them. The first
         * call replaces the dq.redis default; later calls add to the list.
         * @param string|array<string|array{host?:string,port?:int,auth?:string,db?:int}> $servers
         */
        public function addServer(mixed $servers): void {}

        /**
         * Schedules a message. A second add with the same id replaces the first.
         * @param array{id: string|int, body?: mixed, delay?: int|float, fix_time?: string|int} $data
         *        delay in seconds (0 to 366 days), or fix_time as 'Y-m-d H:i:s' in PHP's default
         *        time zone or unix seconds; neither: the topic's default delay. Any other key is
         *        refused (InvalidArgumentException naming it; a typo gets a "did you mean").
         * @return bool true (failures throw)
         * @throws UnknownTopicException|InvalidArgumentException|ConnectionException
         * @throws TimeoutException when Redis did not answer in time: the message may or may not have
         *         been stored; adding it again is safe (the same id replaces it)
         */
        public function add(string $topic, array $data): bool {}

        /**
         * @param string|int $id
         * @return array{topic: string, id: string, body: mixed, due_at: float, attempts: int, state: 'delayed'|'ready'|'inflight'|'dead', last_status?: int, last_error?: string}|null
         */
        public function get(string $topic, mixed $id): ?array {}

        /**
         * Removes the message in whatever state.
         * @param string|int $id
         * @return bool true if there was one
         */
        public function del(string $topic, mixed $id): bool {}

        /**
         * Schedules many messages with one round trip per shard; all are checked first (any key
         * but id, body, delay and fix_time is refused, as for add()).
         * @param array<array{id: string|int, body?: mixed, delay?: int|float, fix_time?: string|int}> $items
         * @return int how many were stored
         * @throws TimeoutException when a shard did not answer in time: its messages may or may not
         *         have been stored; adding them again is safe (the same ids replace them)
         */
        public function addMany(string $topic, array $items): int {}

        /**
         * @return array{delayed: int, ready: int, inflight: int, dead: int}
         */
        public function stats(string $topic): array {}

        /**
         * Reserves the next due job of a pull topic ("mode": "pull"), waiting up to $timeout
         * seconds (0 to 60) for one. The job is leased for the topic's timeout_ms: settle it
         * with ack(), retry() or fail() before then, or it is reserved again.
         * @throws InvalidArgumentException for a push topic (its messages go to its callback)
         * @throws UnknownTopicException|ConnectionException|TimeoutException
         * A stop signal (SIGTERM, SIGINT, SIGQUIT) ends the wait with null, as for Consumer::next().
         */
        public function reserve(string $topic, float $timeout = 1.0): ?Job {}

        /**
         * The worker loop of a pull topic, with the stop rules and options of Consumer::consume()
         * (SIGTERM/SIGINT/SIGQUIT, max_messages, max_seconds, max_memory_mb, timeout, on_error).
         * Each job goes to $handler(Job $job):
         * - the handler returns: the job is acked, unless the handler settled it itself;
         * - the handler throws: with `requeue_on_error` (the default) the job is retried on the
         *   topic's retry ladder, and after the topic's last attempt it becomes a dead letter;
         *   with `requeue_on_error` false it becomes a dead letter at once. Its last error is the
         *   exception's class and message. The exception goes to `on_error` (else error_log()).
         * @param callable(Job): mixed $handler
         * @param array{timeout?: int|float, max_messages?: int, max_seconds?: int|float, max_memory_mb?: int, requeue_on_error?: bool, on_error?: callable(\Throwable, Job): mixed} $options
         * @return int how many jobs the handler got (those that threw included)
         */
        public function work(string $topic, callable $handler, array $options = []): int {}
    }

    /**
     * A pull topic's message reserved by Client::reserve(). Settle it once: ack(), retry() or
     * fail(). A settlement after the lease expired throws Dq\Exception code 11 (the job was
     * reserved again, maybe by another worker).
     */
    final class Job implements JobInterface
    {
        public function id(): string {}

        public function topic(): string {}

        /** The body as it was added (arrays and objects come back as arrays). */
        public function body(): mixed {}

        /** This attempt's number, 1 for the first. */
        public function attempt(): int {}

        /** Attempts in all that the topic allows. */
        public function maxAttempts(): int {}

        /** When it was due, unix seconds. */
        public function dueAt(): float {}

        /** Names the reservation (the HTTP routes' {lease}). */
        public function lease(): string {}

        /** When the lease expires and the job may be reserved again, unix seconds. */
        public function leaseExpiresAt(): float {}

        /** Whether it was settled: ack(), retry() or fail() succeeded (or found the lease gone). */
        public function settled(): bool {}

        /** Done: the job is removed. */
        public function ack(): void {}

        /**
         * Again later: after $delay seconds, or by default the topic's retry ladder.
         * @return bool false when that was the topic's last attempt: the job became a dead letter
         */
        public function retry(?float $delay = null): bool {}

        /** Given up: the job becomes a dead letter with $reason as its last error. */
        public function fail(string $reason): void {}
    }

    /**
     * Publishes to RabbitMQ. One connection per process, kept across requests, opened again after
     * a broker restart or a fork. Properties: message_id, correlation_id, reply_to, content_type,
     * content_encoding, type, app_id, user_id, priority, expiration (ms), timestamp (unix s),
     * headers (array), persistent (default true), delivery_mode, mandatory.
     * An array body is sent as JSON with content_type application/json.
     */
    final class Producer implements ProducerInterface
    {
        /**
         * @param array{amqp?: string, confirm?: bool, timeout?: int|float, prefix?: string} $options
         *        Defaults come from the dq.amqp, dq.timeout and dq.prefix ini settings.
         */
        public function __construct(array $options = []) {}

        /**
         * Returns after the broker confirmed the message (confirms are on by default).
         * @param string|array $body
         * @throws Exception code 10 on a nack or an unroutable mandatory message, code 6 for a missing exchange
         * @throws TimeoutException|ConnectionException|InvalidArgumentException
         */
        public function publish(string $exchange, string $routingKey, mixed $body, array $properties = []): void {}

        /**
         * The message reaches the exchange after $delay seconds (int or float, to the millisecond;
         * 0 to 30 days, else InvalidArgumentException naming the value). Without the
         * delayed-message plugin it waits in a TTL queue, so `expiration` and `mandatory` are refused,
         * and a missing exchange is code 6 as for publish(); through the default exchange ('') a
         * missing queue (the routing key) is code 6 too, rather than a message dropped when due.
         * @param string|array $body
         * @throws Exception code 6 for a missing exchange or queue
         */
        public function publishDelayed(string $exchange, string $routingKey, mixed $body, float $delay, array $properties = []): void {}

        /**
         * @param array<array{routing_key?: string, body: string|array, properties?: array}> $messages
         * @return int how many were confirmed (all confirms are awaited together)
         */
        public function publishBatch(string $exchange, array $messages): int {}

        /**
         * RPC over direct reply-to: returns the reply's body. dq sets `correlation_id` and `reply_to`
         * (passing either is an InvalidArgumentException); $timeout bounds the whole call.
         * @param string|array $body
         * @throws TimeoutException when no reply comes within $timeout seconds
         * @throws Exception code 10 when no queue takes the request
         */
        public function call(string $exchange, string $routingKey, mixed $body, float $timeout = 5.0, array $properties = []): string {}

        /**
         * @param string $type direct, fanout, topic, headers, or a plugin's x-... type
         * @param array{durable?: bool, auto_delete?: bool, internal?: bool, passive?: bool, arguments?: array} $options durable by default
         */
        public function declareExchange(string $name, string $type = 'direct', array $options = []): void {}

        /**
         * @param array{durable?: bool, auto_delete?: bool, exclusive?: bool, passive?: bool, arguments?: array} $options
         *        durable by default; arguments: x-dead-letter-exchange, x-message-ttl, x-max-priority, x-queue-type, ...
         * @return string the queue's name ('' lets the broker name it)
         */
        public function declareQueue(string $name, array $options = []): string {}

        public function bindQueue(string $queue, string $exchange, string $routingKey = '', array $arguments = []): void {}
    }

    /**
     * Takes messages from a queue, up to `prefetch` ahead. Unacked deliveries go back to the
     * queue when the consumer is destroyed, except those still held: a Delivery keeps its
     * channel open until it is acked, nacked or destroyed.
     */
    final class Consumer implements ConsumerInterface
    {
        /** @param array{prefetch?: int, amqp?: string, timeout?: int|float, prefix?: string} $options */
        public function __construct(string $queue, array $options = []) {}

        /**
         * The next delivery, waiting up to $timeout seconds; null if none came, or as soon as
         * SIGTERM, SIGINT or SIGQUIT arrives while it waits. The script's own handler of that
         * signal (pcntl_signal()) still gets it, dispatched by PHP as usual; a signal the script
         * left to its default action then ends the process, as it would have without dq.
         */
        public function next(float $timeout = 1.0): ?Delivery {}

        /**
         * The worker loop a supervisor expects. Each delivery goes to $handler(Delivery $d):
         * - the handler returns: the delivery is acked, unless the handler settled it itself
         *   (ack(), nack(); reply() does not settle, so a reply is acked too);
         * - the handler throws: the delivery is nacked (unless the handler settled it), the
         *   exception goes to `on_error` (else to error_log(), with its trace) and the loop goes
         *   on with the next message. With `requeue_on_error` (the default) a message goes back
         *   to the queue once: when it fails again (redelivered() is true) it is rejected,
         *   dead-lettered if the queue has a dead-letter exchange, else dropped; so a message
         *   that always throws cannot loop for ever, and one failure does not lose a message.
         *   An exception thrown by `on_error` ends the loop and is thrown from consume().
         * It returns, having acked what the handler finished, when:
         * - SIGTERM, SIGINT or SIGQUIT arrives: at once while waiting (within about 10 ms), or
         *   when the handler in progress returns. Whether or not the script has pcntl handlers:
         *   while consume() runs, dq's own handler catches them (a signal the process ignores
         *   stays ignored) and hands them on to the script's handler, which PHP dispatches as
         *   usual (pcntl_signal_dispatch(), pcntl_async_signals()); when consume() returns the
         *   previous handlers are back. A script without handlers then simply ends: exit code 0;
         * - `max_messages` deliveries were handled, `max_seconds` have passed (checked between
         *   messages: a handler is never interrupted), or after a message PHP's
         *   memory_get_usage(true) reached `max_memory_mb`: the supervisor starts a fresh process.
         * Connection errors are thrown (unacked deliveries go back to the queue): a supervisor
         * restarts the worker.
         * @param callable(Delivery): mixed $handler
         * @param array{timeout?: int|float, max_messages?: int, max_seconds?: int|float, max_memory_mb?: int, requeue_on_error?: bool, on_error?: callable(\Throwable, Delivery): mixed} $options
         *        timeout: the longest single wait for a message, default 1 s (a wait ends early
         *        on a stop signal anyway). An unknown option is refused (InvalidArgumentException
         *        naming it, with a "did you mean").
         * @return int how many deliveries the handler got (those that threw included)
         */
        public function consume(callable $handler, array $options = []): int {}
    }

    /** A message taken from a queue. Settle it once: ack() or nack(). */
    final class Delivery implements DeliveryInterface
    {
        public function body(): string {}

        /** @return array<string, mixed> the properties the message has (as for Producer::publish) */
        public function properties(): array {}

        public function routingKey(): string {}

        public function exchange(): string {}

        public function redelivered(): bool {}

        public function ack(): void {}

        /** Back to the queue with $requeue, else dropped or dead-lettered. */
        public function nack(bool $requeue = false): void {}

        /**
         * Answers an RPC request: publishes to its reply_to with its correlation_id.
         * @param string|array $body
         */
        public function reply(mixed $body): void {}
    }
}

namespace Dq {

    /**
     * A transaction across MySQL / MariaDB databases. A branch starts on a database at its
     * first statement; commit() prepares every branch (in parallel), writes the decision to
     * dq's log (`dq.mysql`), then commits every branch (in parallel): all or nothing, also
     * when a process or a server dies on the way (recover() or the gateway's xa worker finish
     * it). Destroyed without commit(), it rolls back.
     */
    final class Xa
    {
        /**
         * @param array<string, string> $databases name => mysql://user:pass@host:port/database
         * @param array{log?: string, timeout?: float} $options log: the decision log's database
         *        (default dq.mysql); timeout: seconds per step (default dq.timeout)
         */
        public function __construct(array $databases, array $options = []) {}

        /**
         * Runs a statement on $database's branch; ? placeholders take $params in order (int,
         * float, string, bool, null).
         * @return int the number of affected rows
         */
        public function execute(string $database, string $sql, array $params = []): int {}

        /**
         * Runs a statement and returns its rows: integers as int, DECIMAL as string, NULL as
         * null, binary columns as strings of bytes.
         * @return list<array<string, mixed>>
         */
        public function query(string $database, string $sql, array $params = []): array {}

        /** Commits every branch, or throws XaException having rolled every branch back. */
        public function commit(): void {}

        /** Rolls every branch back (again: nothing; after commit(): XaException). */
        public function rollback(): void {}

        /** The global transaction id, as dq_xa, the gateway and the logs show it. */
        public function id(): string {}

        /**
         * Runs $handler(Xa $xa) in a new transaction: commits when it returns (returning its
         * value), rolls back and rethrows when it throws.
         * @param array<string, string> $databases
         */
        public static function run(array $databases, callable $handler, array $options = []): mixed {}

        /**
         * Finishes transactions in doubt on these databases' servers: applies each logged
         * decision; rolls back undecided ones older than options['older_than'] seconds
         * (default 60). Options also: log, timeout.
         * @param array<string, string> $databases
         * @return list<array{id: string, database: string, server: string, decision: ?string,
         *         action: string, age: float, error: ?string}>
         */
        public static function recover(array $databases, array $options = []): array {}
    }

    /**
     * Messages written in your own transaction: publish() (to RabbitMQ) and add() (to the delay
     * queue) insert a row into dq_outbox through your PDO connection, so the message exists if
     * and only if your transaction commits; dq-gateway's outbox relay ([outbox] databases) sends
     * committed rows, at least once, with the same message_id each time. Create the tables with
     * `dq-gateway migrate` (or the SQL of schema()).
     */
    final class Outbox
    {
        /**
         * Writes a message for $exchange with $routingKey; body and properties as
         * Producer::publish takes them (an array body is sent as JSON).
         * @param \PDO $pdo a connection to MySQL or MariaDB (ThinkPHP Db::connect()->getPdo(),
         *        Laravel DB::connection()->getPdo())
         * @return string the message id: the message_id property, generated (a UUID) when not given
         */
        public static function publish(mixed $pdo, string $exchange, string $routingKey, mixed $body, array $properties = []): string {}

        /**
         * Writes a delay-queue message for $topic; $data as Client::add takes it (id, body,
         * delay or fix_time; a delay counts from now). The topic is checked when the relay adds it.
         * @param \PDO $pdo
         * @return string the id
         */
        public static function add(mixed $pdo, string $topic, array $data): string {}

        /** The SQL that creates dq_outbox and dq_inbox; never run it inside a transaction. */
        public static function schema(): string {}
    }

    /** The consumer's side of reliable messages: apply each message once. */
    final class Inbox
    {
        /**
         * Records $messageId for $consumer in dq_inbox, in your transaction: true the first
         * time, false when it was claimed before (a concurrent claim waits for the other
         * transaction). Apply the message only when it returns true, in the same transaction.
         * @param \PDO $pdo
         * @param string|int $messageId the message's message_id property
         */
        public static function claim(mixed $pdo, string $consumer, mixed $messageId): bool {}
    }
}

namespace {
    /** php-delayqueue's client name for {@see \Dq\Client}. */
    class_alias(\Dq\Client::class, 'DqClient');
}
