<?php
/**
 * IDE stubs for dq.so (https://github.com/ — dq). Not loaded by PHP; the extension provides
 * these classes. A test (php-tests/016-stubs.phpt) checks them against reflection.
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
     * The delay queue client; `DqClient` is the same class (php-delayqueue compatible).
     * Connections are kept per process, across requests, and rebuilt after a fork.
     */
    final class Client
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
         *        time zone or unix seconds; neither: the topic's default delay.
         * @return bool true (failures throw)
         * @throws UnknownTopicException|InvalidArgumentException|ConnectionException|TimeoutException
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
         * Schedules many messages with one round trip per shard; all are checked first.
         * @param array<array{id: string|int, body?: mixed, delay?: int|float, fix_time?: string|int}> $items
         * @return int how many were stored
         */
        public function addMany(string $topic, array $items): int {}

        /**
         * @return array{delayed: int, ready: int, inflight: int, dead: int}
         */
        public function stats(string $topic): array {}
    }
}

namespace {
    /** php-delayqueue's client name for {@see \Dq\Client}. */
    class_alias(\Dq\Client::class, 'DqClient');
}
