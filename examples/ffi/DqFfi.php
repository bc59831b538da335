<?php
/**
 * dq through PHP's FFI and libdq.so, for hosts where the dq.so extension cannot be installed.
 *
 * DqFfi\Client, DqFfi\Producer, DqFfi\Xa, DqFfi\Outbox and DqFfi\Inbox have the methods,
 * arguments and return values of Dq\Client, Dq\Producer, Dq\Xa, Dq\Outbox and Dq\Inbox (the
 * outbox's rows are written through the caller's PDO, here as there). Failures throw the same
 * exception classes with the same codes and, for bad arguments, the same messages: when dq.so
 * is not loaded, this file declares Dq\Exception, Dq\ConnectionException, Dq\TimeoutException,
 * Dq\InvalidArgumentException, Dq\UnknownTopicException and Dq\XaException itself, so
 * `catch (Dq\...)` works with either.
 *
 * Needs ffi.enable=1 (CLI: `php -d ffi.enable=1`; FPM: see README, ffi.enable=preload with
 * opcache.preload). libdq.so and include/dq_ffi.h are found next to this file's repository
 * (build/, include/) or where DQ_LIBDQ and DQ_FFI_HEADER say.
 */

declare(strict_types=1);

namespace Dq {
    if (!class_exists(Exception::class, false)) {
        class Exception extends \RuntimeException
        {
        }
        class ConnectionException extends Exception
        {
        }
        class TimeoutException extends Exception
        {
        }
        class InvalidArgumentException extends Exception
        {
        }
        class UnknownTopicException extends Exception
        {
        }
    }
    if (!class_exists(XaException::class, false)) {
        class XaException extends Exception
        {
        }
    }
}

namespace DqFfi {
    use Dq\ConnectionException;
    use Dq\Exception;
    use Dq\InvalidArgumentException;
    use Dq\TimeoutException;
    use Dq\UnknownTopicException;
    use Dq\XaException;
    use FFI;
    use FFI\CData;

    /** The library, loaded once per process (or taken from the preloaded FFI scope "dq"), and shared helpers. */
    final class Library
    {
        /** json_encode() flags. (A class constant: opcache preloading keeps classes, not namespace constants.) */
        public const JSON = JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES | JSON_PRESERVE_ZERO_FRACTION | JSON_THROW_ON_ERROR;

        private static ?FFI $ffi = null;

        public static function ffi(): FFI
        {
            if (self::$ffi !== null) {
                return self::$ffi;
            }
            try {
                return self::$ffi = FFI::scope('dq');
            } catch (\FFI\Exception) {
                // Not preloaded: load it now.
            }
            [$header, $library] = self::paths();
            $declarations = @file_get_contents($header);
            if ($declarations === false) {
                throw new Exception("cannot read $header (set DQ_FFI_HEADER to dq_ffi.h)", 1);
            }
            return self::$ffi = FFI::cdef($declarations, $library);
        }

        /**
         * dq_ffi.h and libdq.so: where DQ_FFI_HEADER and DQ_LIBDQ say, else next to this file in
         * the repository (include/, build/), else where the dq package installs them
         * (/usr/include/dq, /usr/lib/<multiarch>).
         *
         * @return array{string, string}
         */
        public static function paths(): array
        {
            $root = dirname(__DIR__, 2);
            $header = getenv('DQ_FFI_HEADER') ?: null;
            $library = getenv('DQ_LIBDQ') ?: null;
            if ($header === null) {
                $header = "$root/include/dq_ffi.h";
                if (!is_file($header) && is_file('/usr/include/dq/dq_ffi.h')) {
                    $header = '/usr/include/dq/dq_ffi.h';
                }
            }
            if ($library === null) {
                $library = "$root/build/libdq.so";
                if (!is_file($library)) {
                    foreach (glob('/usr/lib/*/libdq.so') ?: [] as $installed) {
                        $library = $installed;
                        break;
                    }
                }
            }
            return [$header, $library];
        }

        /** Throws the exception of a result code with the calling thread's last error. */
        public static function check(int $result): void
        {
            if ($result !== 0) {
                throw self::exception($result, self::lastError());
            }
        }

        /** The calling thread's last error message. */
        public static function lastError(): string
        {
            $ffi = self::ffi();
            $length = $ffi->new('size_t');
            $ffi->dq_last_error(null, 0, FFI::addr($length));
            $buffer = $ffi->new('char[' . ($length->cdata + 1) . ']');
            $ffi->dq_last_error($buffer, $length->cdata + 1, null);
            return FFI::string($buffer);
        }

        /** The exception class of each code, as dq.so maps them. */
        public static function exception(int $code, string $message): Exception
        {
            return self::atCaller(match ($code) {
                2, 9 => new InvalidArgumentException($message, $code),
                3 => new UnknownTopicException($message, $code),
                4 => new ConnectionException($message, $code),
                5 => new TimeoutException($message, $code),
                12 => new XaException($message, $code),
                default => new Exception($message, $code),
            });
        }

        public static function invalid(string $message): InvalidArgumentException
        {
            return self::atCaller(new InvalidArgumentException($message, 2));
        }

        /**
         * $e with the file and line of the call into this file, as an extension's exception
         * has them (getFile(), getLine() name the caller's call, not this file).
         * @template T of \Throwable
         * @param T $e
         * @return T
         */
        private static function atCaller(\Throwable $e): \Throwable
        {
            foreach (debug_backtrace(DEBUG_BACKTRACE_IGNORE_ARGS) as $frame) {
                if (isset($frame['file']) && $frame['file'] !== __FILE__) {
                    (new \ReflectionProperty(\Exception::class, 'file'))->setValue($e, $frame['file']);
                    (new \ReflectionProperty(\Exception::class, 'line'))->setValue($e, $frame['line']);
                    break;
                }
            }
            return $e;
        }

        /** A string dq returned (char *), freed after reading; null for NULL. */
        public static function take(CData $text): ?string
        {
            if (FFI::isNull($text)) {
                return null;
            }
            $value = FFI::string($text);
            self::ffi()->dq_string_free($text);
            return $value;
        }

        /** $value as JSON; what cannot be encoded is named as dq.so names it ("$name[\"a\"][0]: ..."). */
        public static function json(mixed $value, string $name): string
        {
            try {
                return json_encode($value, self::JSON);
            } catch (\JsonException $e) {
                throw self::invalid(self::unencodable($value, $name) ?? "$name: cannot be encoded as JSON: {$e->getMessage()}");
            }
        }

        /** A PHP array of name => value as a JSON object, null for an empty one (dq.so's map_of). */
        public static function object(array $values, string $name): ?string
        {
            if ($values === []) {
                return null;
            }
            if (array_is_list($values)) {
                throw self::invalid("$name must be an array of name => value, not a list");
            }
            return self::json($values, $name);
        }

        /** Where in $value JSON encoding fails and why ("path: what"), or null. */
        public static function unencodable(mixed $value, string $path, int $depth = 0): ?string
        {
            if ($depth > 512) {
                return "$path: nested deeper than 512 levels";
            }
            if (is_string($value)) {
                return preg_match('//u', $value) ? null : "$path: string is not valid UTF-8";
            }
            if (is_float($value)) {
                return is_finite($value) ? null : "$path: float " . self::float($value) . ' cannot be encoded as JSON';
            }
            if ($value instanceof \JsonSerializable) {
                $value = $value->jsonSerialize();
            } elseif (is_object($value)) {
                $value = get_object_vars($value);
            }
            if (!is_array($value)) {
                return null;
            }
            foreach ($value as $key => $item) {
                if (is_string($key) && !preg_match('//u', $key)) {
                    return "$path: array key is not valid UTF-8";
                }
                $found = self::unencodable($item, $path . (is_int($key) ? "[$key]" : "[\"$key\"]"), $depth + 1);
                if ($found !== null) {
                    return $found;
                }
            }
            return null;
        }

        /** Text as dq.so reads a key: what is not UTF-8 as U+FFFD. */
        public static function lossy(string $text): string
        {
            return preg_match('//u', $text) ? $text : json_decode(json_encode($text, JSON_INVALID_UTF8_SUBSTITUTE));
        }

        /** A value and its PHP type, worded as dq.so words them: `"x" is a string`, `42 is an int`, `is null`. */
        public static function described(mixed $value): string
        {
            return match (true) {
                $value === null => 'is null',
                is_bool($value) => ($value ? 'true' : 'false') . ' is a bool',
                is_int($value) => "$value is an int",
                is_float($value) => self::float($value) . ' is a float',
                is_string($value) => '"' . self::escaped($value) . '" is a string',
                is_array($value) => 'is an array',
                is_object($value) => 'is an object of class ' . get_class($value),
                default => 'is a ' . get_debug_type($value),
            };
        }

        /** A float as Rust prints it: 1.5, 1 (not 1.0), NaN, inf. */
        public static function float(float $value): string
        {
            return is_nan($value) ? 'NaN' : (is_infinite($value) ? ($value > 0 ? 'inf' : '-inf') : json_encode($value));
        }

        /** The first 80 characters of $text, control characters and quotes escaped as Rust's escape_debug does, "..." after a cut. */
        private static function escaped(string $text): string
        {
            if (!preg_match('//u', $text)) { // as String::from_utf8_lossy: U+FFFD for what is not UTF-8
                $text = json_decode(json_encode($text, JSON_INVALID_UTF8_SUBSTITUTE));
            }
            preg_match('/^.{0,80}/su', $text, $m);
            $shown = preg_replace_callback('/[\x00-\x1f\x7f"\'\\\\]/', static fn (array $c): string => match ($c[0]) {
                "\t" => '\t', "\r" => '\r', "\n" => '\n', "\0" => '\0', '"' => '\"', "'" => "\\'", '\\' => '\\\\',
                default => sprintf('\u{%x}', ord($c[0])),
            }, $m[0]);
            return strlen($m[0]) < strlen($text) ? "$shown..." : $shown;
        }
    }

    /** The delay queue client (Dq\Client / DqClient). */
    final class Client
    {
        private FFI $ffi;
        private ?CData $handle = null;
        /** @var array<string, mixed> prefix, timeout, body_limit as given */
        private array $options = [];
        /** @var list<string>|null the Redis servers named (option or addServer); null: the default */
        private ?array $servers = null;
        /** Whether the servers were named (option or addServer) rather than taken from dq.redis. */
        private bool $serversNamed = false;
        /** PHP's time zone when the handle was made: dq reads fix_time strings in it. */
        private string $zone = '';

        /** @param array{redis?: string|array, prefix?: string, timeout?: int|float, body_limit?: int, replicas?: int} $options */
        public function __construct(array $options = [])
        {
            $this->ffi = Library::ffi();
            foreach ($options as $key => $value) {
                $name = "options['$key']";
                $key = (string) $key;
                if ($key === 'redis') {
                    $this->servers = self::servers($value, $name);
                    $this->serversNamed = true;
                } elseif ($key === 'prefix') {
                    $this->options['prefix'] = is_string($value) ? $value
                        : throw Library::invalid("$name " . Library::described($value) . ': expected a string');
                } elseif ($key === 'timeout') {
                    $this->options['timeout'] = Producer::seconds($value, $name);
                } elseif ($key === 'body_limit') {
                    $this->options['body_limit'] = is_int($value) && $value > 0 ? $value
                        : throw Library::invalid("$name " . Library::described($value) . ': expected a positive number of bytes');
                } elseif ($key === 'replicas') {
                    $this->options['replicas'] = is_int($value) ? $value
                        : throw Library::invalid("$name " . Library::described($value) . ': expected a number of Redis replicas');
                } elseif (!in_array($key, ['amqp', 'confirm', 'amqp_queue_type'], true)) { // Producer options: one array may serve both classes
                    throw Library::invalid("unknown option \"$key\" (options: redis, prefix, timeout, body_limit, replicas)");
                }
            }
            $defaults = self::iniDefaults();
            if ($this->servers === null && isset($defaults['redis'])) {
                $this->servers = [$defaults['redis']];
            }
            unset($defaults['redis']);
            $this->options += $defaults;
            $this->open();
        }

        /** Adds Redis shard(s): the first call replaces the dq.redis default, later ones append; a server already there is skipped. */
        public function addServer(mixed $servers): void
        {
            $added = self::servers($servers, 'servers');
            $list = [];
            foreach (self::each($this->serversNamed ? $this->servers : []) as $server) {
                $list[self::url($server)] = $server;
            }
            foreach ($added as $spec) {
                // Checked alone first, so that a mistake is reported as dq.so reports it.
                $probe = $this->ffi->new('dq_client *');
                $result = $this->ffi->dq_client_new(Library::json(['redis' => $spec], 'servers'), FFI::addr($probe));
                if ($result !== 0) {
                    throw Library::exception($result, 'servers: ' . Library::lastError());
                }
                $this->ffi->dq_client_free($probe);
                foreach (self::each([$spec]) as $server) {
                    $list[self::url($server)] ??= $server;
                }
            }
            $this->servers = array_values($list);
            $this->serversNamed = true;
            $this->open();
        }

        public function add(string $topic, array $data): bool
        {
            if (isset($data['fix_time']) && is_string($data['fix_time']) && $this->zone !== date_default_timezone_get()) {
                $this->open(); // dq.so reads fix_time in PHP's time zone of the moment
            }
            $result = $this->ffi->dq_client_add($this->handle, $topic, self::message($data, 'data'));
            if ($result !== 0) {
                $message = Library::lastError();
                // Errors of the message are named "data: ..." as dq.so names them; the topic's are not.
                throw Library::exception($result, $result === 2 && !str_starts_with($message, 'topic "') ? "data: $message" : $message);
            }
            return true;
        }

        public function get(string $topic, mixed $id): ?array
        {
            $out = $this->ffi->new('char *');
            Library::check($this->ffi->dq_client_get($this->handle, $topic, is_string($id) ? $id : self::id($id), FFI::addr($out)));
            $json = Library::take($out);
            return $json === null ? null : json_decode($json, true, 512, JSON_THROW_ON_ERROR);
        }

        public function del(string $topic, mixed $id): bool
        {
            $removed = $this->ffi->new('bool');
            Library::check($this->ffi->dq_client_del($this->handle, $topic, is_string($id) ? $id : self::id($id), FFI::addr($removed)));
            return $removed->cdata;
        }

        public function addMany(string $topic, array $items): int
        {
            $list = [];
            $zone = false;
            foreach ($items as $key => $item) {
                if (!is_array($item)) {
                    throw Library::invalid(self::item($key) . ' ' . Library::described($item) . ': expected an array with id, body and delay or fix_time');
                }
                $list[] = $item === [] || array_is_list($item) ? (object) $item : $item;
                $zone = $zone || (isset($item['fix_time']) && is_string($item['fix_time']));
            }
            if ($zone && $this->zone !== date_default_timezone_get()) {
                $this->open();
            }
            try {
                $json = json_encode($list, Library::JSON);
            } catch (\JsonException) {
                foreach ($items as $key => $item) {
                    self::message($item, self::item($key));
                }
                throw Library::invalid('items: cannot be encoded as JSON');
            }
            $count = $this->ffi->new('size_t');
            $result = $this->ffi->dq_client_add_many($this->handle, $topic, $json, FFI::addr($count));
            if ($result !== 0) {
                // libdq.so counts items from 0 ("messages[3]: ..."); dq.so names them by their keys ("items[3]: ...").
                $message = Library::lastError();
                if (preg_match('/^messages\[(\d+)\]/', $message, $m)) {
                    $message = self::item(array_keys($items)[(int) $m[1]]) . substr($message, strlen($m[0]));
                }
                throw Library::exception($result, $message);
            }
            return $count->cdata;
        }

        public function stats(string $topic): array
        {
            $out = $this->ffi->new('char *');
            Library::check($this->ffi->dq_client_stats($this->handle, $topic, FFI::addr($out)));
            return json_decode((string) Library::take($out), true, 512, JSON_THROW_ON_ERROR);
        }

        /** As Dq\Client::reserve(): the next due job of a pull topic, or null after $timeout seconds. */
        public function reserve(string $topic, float $timeout = 1.0): ?Job
        {
            $out = $this->ffi->new('char *');
            Library::check($this->ffi->dq_client_reserve($this->handle, $topic, $timeout, FFI::addr($out)));
            $json = Library::take($out);
            return $json === null ? null : new Job($this, json_decode($json, true, 512, JSON_THROW_ON_ERROR));
        }

        /**
         * Settles a reserved job (Job's ack, retry and fail call it).
         * @internal
         */
        public function settle(string $how, string $topic, string $lease, float $delay = -1.0, string $reason = ''): bool
        {
            if ($how === 'retry') {
                $scheduled = $this->ffi->new('bool');
                Library::check($this->ffi->dq_client_retry($this->handle, $topic, $lease, $delay, FFI::addr($scheduled)));
                return $scheduled->cdata;
            }
            Library::check($how === 'ack'
                ? $this->ffi->dq_client_ack($this->handle, $topic, $lease)
                : $this->ffi->dq_client_fail($this->handle, $topic, $lease, $reason));
            return true;
        }

        public function __destruct()
        {
            if ($this->handle !== null) {
                $this->ffi->dq_client_free($this->handle);
            }
        }

        private function open(): void
        {
            $this->zone = date_default_timezone_get();
            $options = $this->options + ['timezone' => $this->zone];
            if ($this->servers !== null) {
                $options['redis'] = $this->servers;
            }
            $handle = $this->ffi->new('dq_client *');
            $result = $this->ffi->dq_client_new(Library::json($options, 'options'), FFI::addr($handle));
            if ($result !== 0) {
                $message = Library::lastError();
                // Which option was wrong, as dq.so says it ("options['prefix']: prefix ... is invalid").
                $option = match (true) {
                    $result !== 2 => null,
                    str_starts_with($message, 'prefix ') => 'prefix',
                    str_starts_with($message, 'timeout ') => 'timeout',
                    str_contains($message, 'Redis server') && !str_contains($message, 'listed twice') => 'redis',
                    default => null,
                };
                throw Library::exception($result, $option === null ? $message : "options['$option']: $message");
            }
            if ($this->handle !== null) {
                $this->ffi->dq_client_free($this->handle);
            }
            $this->handle = $handle;
        }

        /**
         * A message array as the JSON object libdq.so reads (Outbox::add uses it too).
         * @internal
         */
        public static function message(array $data, string $name): string
        {
            try {
                // A list (no id, body... keys) is still an object here: the missing id is then what is reported.
                return json_encode($data === [] || array_is_list($data) ? (object) $data : $data, Library::JSON);
            } catch (\JsonException $e) {
                // dq.so reads id, delay, fix_time, then body.
                foreach (['id', 'delay', 'fix_time', 'body'] as $field) {
                    if (array_key_exists($field, $data) && ($found = Library::unencodable($data[$field], "{$name}[\"$field\"]")) !== null) {
                        throw Library::invalid($found);
                    }
                }
                throw Library::invalid("$name: cannot be encoded as JSON: {$e->getMessage()}");
            }
        }

        /** An addMany item's name in messages: items[3], items["first"]. */
        private static function item(int|string $key): string
        {
            return is_int($key) ? "items[$key]" : "items[\"$key\"]";
        }

        /** An id of get()/del() that is not a string: an int as its digits; anything else is refused. */
        private static function id(mixed $id): string
        {
            if (is_int($id)) {
                return (string) $id;
            }
            throw Library::invalid('id ' . Library::described($id) . ': expected a string or an integer');
        }

        /**
         * Servers given to the 'redis' option or addServer(), as dq.so reads them: a string (may
         * be comma-separated), or an array of strings and ['host', 'port', 'auth', 'db'] arrays.
         * @return list<string>
         */
        private static function servers(mixed $value, string $name): array
        {
            if (is_string($value)) {
                return [$value];
            }
            if (!is_array($value)) {
                throw Library::invalid("$name " . Library::described($value) . ': expected a string or an array of servers');
            }
            if ($value === []) {
                throw Library::invalid("$name is empty: expected at least one server");
            }
            $servers = [];
            foreach ($value as $key => $item) {
                $servers[] = match (true) {
                    is_string($item) => $item,
                    is_array($item) => self::fromParts($item, $name),
                    default => throw Library::invalid("{$name}[$key] " . Library::described($item) . ': expected a string such as "127.0.0.1:6379"'),
                };
            }
            return $servers;
        }

        /** ['host' => .., 'port' => .., 'auth' => .., 'db' => ..] as a redis:// URL (dq-core's RedisServer::from_parts). */
        private static function fromParts(array $parts, string $name): string
        {
            $text = static fn (string $key): ?string => array_key_exists($key, $parts)
                ? (is_int($parts[$key]) || is_string($parts[$key]) ? (string) $parts[$key] : '') : null;
            $db = $text('db') ?? '0';
            if (!preg_match('/^\+?\d{1,10}$/', $db) || (int) $db > 4294967295) {
                throw Library::invalid("$name: db \"$db\" is not a database number");
            }
            $host = $text('host') ?? '127.0.0.1';
            $port = $text('port') ?? '6379';
            if ($host === '' || strpbrk($host, '/@ ') !== false || !preg_match('/^\+?\d{1,5}$/', $port) || (int) $port > 65535) {
                throw Library::invalid("$name: Redis server host " . json_encode($host, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES) . ' port ' . json_encode($port, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES) . ' is invalid');
            }
            $auth = $text('auth');
            return 'redis://' . ($auth !== null && $auth !== '' ? ':' . rawurlencode($auth) . '@' : '') . "$host:$port/" . (int) $db;
        }

        /** A server as dq-core compares servers: host:port[:auth] as the redis:// URL it stands for. */
        private static function url(string $spec): string
        {
            $spec = trim($spec);
            if (str_contains($spec, '://')) {
                return $spec;
            }
            $parts = explode(':', $spec, 3);
            return self::fromParts(['host' => $parts[0], 'port' => $parts[1] ?? '6379', 'auth' => $parts[2] ?? null], 'servers');
        }

        /**
         * The servers of a list whose strings may be comma-separated.
         * @param list<string> $specs
         * @return list<string>
         */
        private static function each(array $specs): array
        {
            $servers = [];
            foreach ($specs as $spec) {
                foreach (explode(',', $spec) as $server) {
                    if (trim($server) !== '') {
                        $servers[] = trim($server);
                    }
                }
            }
            return $servers;
        }

        /** The dq.* ini settings dq.so would use, when they are set (FFI hosts may set them). */
        private static function iniDefaults(): array
        {
            $defaults = [];
            foreach (['redis' => 'dq.redis', 'prefix' => 'dq.prefix'] as $option => $ini) {
                $value = ini_get($ini);
                if (is_string($value) && $value !== '') {
                    $defaults[$option] = $value;
                }
            }
            $timeout = ini_get('dq.timeout');
            if (is_string($timeout) && is_numeric($timeout)) {
                $defaults['timeout'] = (float) $timeout;
            }
            $replicas = ini_get('dq.replicas');
            if (is_string($replicas) && is_numeric($replicas)) {
                $defaults['replicas'] = (int) $replicas;
            }
            return $defaults;
        }
    }

    /** A pull topic's reserved job (Dq\Job): settle it once with ack(), retry() or fail(). */
    final class Job
    {
        private ?string $settled = null;

        /** @param array{lease: string, topic: string, id: string, body: mixed, attempt: int, max_attempts: int, due_at: float, lease_expires_at: float} $job */
        public function __construct(private Client $client, private array $job)
        {
        }

        public function id(): string
        {
            return $this->job['id'];
        }

        public function topic(): string
        {
            return $this->job['topic'];
        }

        public function body(): mixed
        {
            return $this->job['body'];
        }

        public function attempt(): int
        {
            return $this->job['attempt'];
        }

        public function maxAttempts(): int
        {
            return $this->job['max_attempts'];
        }

        public function dueAt(): float
        {
            return (float) $this->job['due_at'];
        }

        public function lease(): string
        {
            return $this->job['lease'];
        }

        public function leaseExpiresAt(): float
        {
            return (float) $this->job['lease_expires_at'];
        }

        public function settled(): bool
        {
            return $this->settled !== null;
        }

        public function ack(): void
        {
            $this->settle('acked', fn () => $this->client->settle('ack', $this->job['topic'], $this->job['lease']));
        }

        public function retry(?float $delay = null): bool
        {
            if ($delay !== null && !(is_finite($delay) && $delay >= 0)) {
                throw Library::invalid('delay ' . Library::float($delay) . (is_nan($delay) ? ' is not a number' : ' is out of range') . ': expected seconds from 0 to 31622400 (366 days)');
            }
            return $this->settle('retried', fn () => $this->client->settle('retry', $this->job['topic'], $this->job['lease'], $delay ?? -1.0));
        }

        public function fail(string $reason): void
        {
            $this->settle('failed', fn () => $this->client->settle('fail', $this->job['topic'], $this->job['lease'], -1.0, $reason));
        }

        /** Once only, as Dq\Job: a settlement that found the lease gone (code 11) counts. */
        private function settle(string $how, callable $call): bool
        {
            if ($this->settled !== null) {
                throw Library::invalid(sprintf('job "%s" of topic "%s" was %s already: a job is settled once (ack, retry or fail)', $this->job['id'], $this->job['topic'], $this->settled));
            }
            try {
                $result = $call();
            } catch (Exception $e) {
                if ($e->getCode() === 11) {
                    $this->settled = 'lost';
                }
                throw $e;
            }
            $this->settled = $how;
            return $result;
        }
    }

    /** Publishes to RabbitMQ (Dq\Producer). */
    final class Producer
    {
        private FFI $ffi;
        private CData $handle;

        /** @param array{amqp?: string, confirm?: bool, timeout?: int|float, prefix?: string, amqp_queue_type?: string} $options */
        public function __construct(array $options = [])
        {
            $this->ffi = Library::ffi();
            $given = [];
            foreach ($options as $key => $value) {
                $name = "options['$key']";
                match ((string) $key) {
                    'amqp', 'prefix', 'amqp_queue_type' => is_string($value) ? $given[$key] = $value
                        : throw Library::invalid("$name " . Library::described($value) . ': expected a string'),
                    'timeout' => $given['timeout'] = self::seconds($value, $name),
                    'confirm' => is_bool($value) ? $given['confirm'] = $value
                        : throw Library::invalid("$name " . Library::described($value) . ': expected true or false'),
                    'redis', 'body_limit', 'replicas' => null, // Client options: one array may serve both classes
                    default => throw Library::invalid("unknown option \"$key\" (options: amqp, prefix, timeout, amqp_queue_type, confirm)"),
                };
            }
            $handle = $this->ffi->new('dq_producer *');
            $result = $this->ffi->dq_producer_new(Library::json($given ?: new \stdClass(), 'options'), FFI::addr($handle));
            if ($result !== 0) {
                $message = Library::lastError();
                throw Library::exception($result, $result === 2 && str_starts_with($message, 'timeout ') ? "options['timeout']: $message" : $message);
            }
            $this->handle = $handle;
        }

        public function publish(string $exchange, string $routingKey, mixed $body, array $properties = []): void
        {
            [$bytes, $properties] = self::message($body, $properties);
            self::check($this->ffi->dq_producer_publish($this->handle, $exchange, $routingKey, $bytes, strlen($bytes), $properties));
        }

        /** $delay in seconds (int or float, to the millisecond; 0 to 30 days, checked by libdq.so). */
        public function publishDelayed(string $exchange, string $routingKey, mixed $body, float $delay, array $properties = []): void
        {
            [$bytes, $properties] = self::message($body, $properties);
            self::check($this->ffi->dq_producer_publish_delayed($this->handle, $exchange, $routingKey, $bytes, strlen($bytes), $delay, $properties));
        }

        /** @param array<array{routing_key?: string, body: string|array, properties?: array}> $messages */
        public function publishBatch(string $exchange, array $messages): int
        {
            $items = [];
            foreach ($messages as $key => $message) {
                $items[] = self::batchItem($message, is_int($key) ? "messages[$key]" : "messages[\"$key\"]");
            }
            $count = $this->ffi->new('size_t');
            $result = $this->ffi->dq_producer_publish_batch($this->handle, $exchange, Library::json($items, 'messages'), FFI::addr($count));
            if ($result !== 0) {
                $message = Library::lastError();
                if (preg_match('/^messages\[(\d+)\]/', $message, $m)) {
                    $key = array_keys($messages)[(int) $m[1]];
                    $message = (is_int($key) ? "messages[$key]" : "messages[\"$key\"]") . substr($message, strlen($m[0]));
                }
                throw Library::exception($result, $message);
            }
            return $count->cdata;
        }

        public function call(string $exchange, string $routingKey, mixed $body, float $timeout = 5.0, array $properties = []): string
        {
            [$bytes, $properties] = self::message($body, $properties);
            $reply = $this->ffi->new('char *');
            $length = $this->ffi->new('size_t');
            self::check($this->ffi->dq_producer_call(
                $this->handle, $exchange, $routingKey, $bytes, strlen($bytes), $properties, $timeout,
                FFI::addr($reply), FFI::addr($length),
            ));
            $value = FFI::string($reply, $length->cdata);
            $this->ffi->dq_bytes_free($reply, $length->cdata);
            return $value;
        }

        public function declareExchange(string $name, string $type = 'direct', array $options = []): void
        {
            self::check($this->ffi->dq_producer_declare_exchange($this->handle, $name, $type, Library::object($options, 'options')));
        }

        public function declareQueue(string $name, array $options = []): string
        {
            $out = $this->ffi->new('char *');
            self::check($this->ffi->dq_producer_declare_queue($this->handle, $name, Library::object($options, 'options'), FFI::addr($out)));
            return (string) Library::take($out);
        }

        public function bindQueue(string $queue, string $exchange, string $routingKey = '', array $arguments = []): void
        {
            self::check($this->ffi->dq_producer_bind_queue($this->handle, $queue, $exchange, $routingKey, Library::object($arguments, 'arguments')));
        }

        public function __destruct()
        {
            $this->ffi->dq_producer_free($this->handle);
        }

        /** Seconds (int or float) of a 'timeout' option; the range is libdq.so's to check. */
        public static function seconds(mixed $value, string $name): int|float
        {
            if (!is_int($value) && !is_float($value)) {
                throw Library::invalid("$name " . Library::described($value) . ': expected seconds');
            }
            if (is_float($value) && !is_finite($value)) { // JSON has no NaN or INF
                $shown = is_nan($value) ? 'NaN' : ($value > 0 ? 'inf' : '-inf');
                throw Library::invalid("$name: timeout $shown is invalid: expected seconds above 0 and at most 3600");
            }
            return $value;
        }

        /** Throws for a failed call; libdq.so's argument names are PHP's parameter names in dq.so's messages. */
        private static function check(int $result): void
        {
            if ($result !== 0) {
                $message = Library::lastError();
                throw Library::exception($result, preg_replace('/^(properties|timeout|delay)(?:_json|_seconds)\b/', '$1', $message));
            }
        }

        /**
         * A body as bytes (an array or object as JSON, content type application/json unless one
         * is given) and its properties, as a JSON object (null for none) and as an array
         * (Outbox::publish uses it too).
         * @internal
         * @return array{0: string, 1: ?string, 2: array}
         */
        public static function message(mixed $body, array $properties): array
        {
            $json = Library::object($properties, 'properties'); // checked first, as dq.so does
            if (is_string($body)) {
                return [$body, $json, $properties];
            }
            if (!is_array($body) && !is_object($body)) {
                throw Library::invalid('body ' . Library::described($body) . ': expected a string, or an array to send as JSON');
            }
            $bytes = Library::json($body, 'body');
            if (!array_key_exists('content_type', $properties)) {
                $properties['content_type'] = 'application/json';
                $json = json_encode($properties, Library::JSON);
            }
            return [$bytes, $json, $properties];
        }

        /** One publishBatch item, checked as dq.so checks it; an array body is encoded here, as publish() does. */
        private static function batchItem(mixed $message, string $name): array
        {
            if (!is_array($message)) {
                throw Library::invalid("$name " . Library::described($message) . ": expected ['routing_key' => .., 'body' => .., 'properties' => [..]]");
            }
            foreach ($message as $key => $value) {
                $key = (string) $key;
                if ($key === 'routing_key' && !is_string($value)) {
                    throw Library::invalid("{$name}['routing_key'] " . Library::described($value) . ': expected a string');
                }
                if ($key !== 'routing_key' && $key !== 'body' && $key !== 'properties') {
                    throw Library::invalid("$name has unknown key \"$key\" (keys: routing_key, body, properties)");
                }
            }
            if (!array_key_exists('body', $message)) {
                throw Library::invalid("$name has no 'body'");
            }
            try {
                [$body, , $properties] = self::message($message['body'], is_array($message['properties'] ?? null) ? $message['properties'] : []);
            } catch (InvalidArgumentException $e) {
                throw Library::invalid("$name: {$e->getMessage()}");
            }
            if (!preg_match('//u', $body)) {
                // The batch goes to libdq.so as JSON, which holds text only.
                throw Library::invalid("$name: body is not valid UTF-8: libdq.so takes a batch's bodies as text; publish() binary bodies one by one");
            }
            $item = ['routing_key' => $message['routing_key'] ?? '', 'body' => $body];
            if ($properties !== []) {
                $item['properties'] = $properties;
            }
            return $item;
        }
    }

    /**
     * A transaction across MySQL / MariaDB databases (Dq\Xa): a branch is started on a database at
     * its first statement; commit() commits every branch or none. Destroyed without commit() or
     * rollback(), it rolls back.
     */
    final class Xa
    {
        private FFI $ffi;
        private ?CData $handle = null;

        /**
         * @param array<string, string> $databases name => mysql://user:pass@host:port/database
         * @param array{log?: string, timeout?: int|float} $options log: the decision log's
         *        database (default mysql://root@127.0.0.1:3306/dq); timeout: seconds per step (default 3)
         */
        public function __construct(array $databases, array $options = [])
        {
            $this->ffi = Library::ffi();
            [$urls, $given] = self::arguments($databases, $options);
            $handle = $this->ffi->new('dq_xa *');
            Library::check($this->ffi->dq_xa_new(Library::json($urls, 'databases'), Library::json((object) $given, 'options'), FFI::addr($handle)));
            $this->handle = $handle;
        }

        /** Runs a statement on $database's branch ($params bound to its ? in order); returns the number of affected rows. */
        public function execute(string $database, string $sql, array $params = []): int
        {
            $rows = $this->ffi->new('uint64_t');
            Library::check($this->ffi->dq_xa_execute($this->handle, $database, $sql, strlen($sql), self::params($params, $database, $sql), FFI::addr($rows)));
            return $rows->cdata;
        }

        /**
         * Runs a statement and returns its rows: integers as int, DECIMAL as string, NULL as null,
         * binary columns as strings of bytes.
         * @return list<array<string, mixed>>
         */
        public function query(string $database, string $sql, array $params = []): array
        {
            $out = $this->ffi->new('char *');
            Library::check($this->ffi->dq_xa_query($this->handle, $database, $sql, strlen($sql), self::params($params, $database, $sql), FFI::addr($out)));
            $rows = json_decode((string) Library::take($out), true, 512, JSON_THROW_ON_ERROR);
            foreach ($rows as &$row) {
                foreach ($row as &$value) {
                    if (is_array($value)) { // {"base64": ...}: bytes that are not UTF-8
                        $value = base64_decode($value['base64'], true);
                    }
                }
            }
            return $rows;
        }

        /** Commits every branch, or throws Dq\XaException having rolled every branch back. */
        public function commit(): void
        {
            $pending = $this->ffi->new('char *');
            Library::check($this->ffi->dq_xa_commit($this->handle, FFI::addr($pending)));
            $names = Library::take($pending);
            if ($names !== null) {
                trigger_error(sprintf(
                    'DqFfi\Xa::commit(): committed; the branch(es) on %s could not be reached and will be committed by recovery',
                    implode(', ', json_decode($names, true, 512, JSON_THROW_ON_ERROR)),
                ), E_USER_WARNING);
            }
        }

        /** Rolls every branch back (again: nothing; after commit(): Dq\XaException). */
        public function rollback(): void
        {
            Library::check($this->ffi->dq_xa_rollback($this->handle));
        }

        /** The global transaction id, as dq_xa, the gateway and the logs show it. */
        public function id(): string
        {
            $out = $this->ffi->new('char *');
            Library::check($this->ffi->dq_xa_id($this->handle, FFI::addr($out)));
            return (string) Library::take($out);
        }

        /**
         * Runs $handler(Xa $xa) in a new transaction: commits when it returns (returning its
         * value), rolls back and rethrows when it throws.
         * @param array<string, string> $databases
         */
        public static function run(array $databases, callable $handler, array $options = []): mixed
        {
            $xa = new self($databases, $options);
            try {
                $value = $handler($xa);
            } catch (\Throwable $e) {
                try {
                    $xa->rollback();
                } catch (\Throwable) {
                    // The handler's exception is the one to see.
                }
                throw $e;
            }
            if ($xa->active()) { // unless $handler committed or rolled back itself
                $xa->commit();
            }
            return $value;
        }

        /**
         * Finishes transactions in doubt on these databases' servers: applies each logged
         * decision; rolls back undecided ones older than options['older_than'] seconds
         * (default 60). Options also: log, timeout.
         * @param array<string, string> $databases
         * @return list<array{id: string, database: string, server: string, decision: ?string, action: string, age: float, error: ?string}>
         */
        public static function recover(array $databases, array $options = []): array
        {
            $rest = [];
            $age = null;
            foreach ($options as $key => $value) {
                if ((string) $key !== 'older_than') {
                    $rest[$key] = $value;
                } elseif (!is_int($value) && !is_float($value)) { // dq.so reads older_than first
                    throw Library::invalid("options['older_than'] " . Library::described($value) . ': expected seconds');
                } elseif (!($value >= 0 && $value <= 2592000)) {
                    throw Library::invalid("options['older_than']: older_than \"" . Library::float((float) $value) . '" is invalid: expected seconds from 0 to 2592000 (30 days)');
                } else {
                    $age = $value;
                }
            }
            [$urls, $given] = self::arguments($databases, $rest);
            if ($age !== null) {
                $given['older_than'] = $age;
            }
            $ffi = Library::ffi();
            $out = $ffi->new('char *');
            Library::check($ffi->dq_xa_recover(Library::json($urls, 'databases'), Library::json((object) $given, 'options'), FFI::addr($out)));
            return json_decode((string) Library::take($out), true, 512, JSON_THROW_ON_ERROR);
        }

        public function __destruct()
        {
            if ($this->handle !== null) {
                $this->ffi->dq_xa_free($this->handle); // rolls back what is unfinished
            }
        }

        private function active(): bool
        {
            $active = $this->ffi->new('bool');
            Library::check($this->ffi->dq_xa_is_active($this->handle, FFI::addr($active)));
            return $active->cdata;
        }

        /**
         * The databases and options as libdq.so takes them, checked here where PHP's types are
         * concerned (with dq.so's messages, in its order); libdq.so checks the values.
         * @return array{0: array<string, string>, 1: array<string, mixed>}
         */
        private static function arguments(array $databases, array $options): array
        {
            if ($databases === []) {
                throw Library::invalid("databases is empty: expected ['name' => 'mysql://user:pass@host:port/database', ...]");
            }
            $urls = [];
            foreach ($databases as $name => $url) {
                if (is_int($name)) {
                    throw Library::invalid("databases[$name]: expected a name as the key ('order' => 'mysql://...')");
                }
                $name = Library::lossy($name);
                if (!is_string($url) || !preg_match('//u', $url)) {
                    throw Library::invalid("databases['$name'] " . Library::described($url) . ': expected a mysql:// URL');
                }
                $urls[$name] = $url;
            }
            $given = [];
            foreach ($options as $key => $value) {
                $name = "options['$key']";
                $problem = match ((string) $key) {
                    'log' => is_string($value) && preg_match('//u', $value) ? null : "$name " . Library::described($value) . ': expected a mysql:// URL',
                    'timeout' => match (true) {
                        !is_int($value) && !is_float($value) => "$name " . Library::described($value) . ': expected seconds',
                        !is_finite((float) $value) => "$name: timeout " . Library::float($value) . ' is invalid: expected seconds above 0 and at most 3600',
                        default => null,
                    },
                    default => 'unknown option "' . Library::lossy((string) $key) . '" (options: log, timeout; recover() also takes older_than)',
                };
                if ($problem !== null) {
                    // dq.so checks the databases and the options before this one first.
                    self::probe($urls, $given);
                    throw Library::invalid($problem);
                }
                $given[(string) $key] = $value;
            }
            $log = ini_get('dq.mysql');
            if (!isset($given['log']) && is_string($log) && $log !== '') {
                $given['log'] = $log;
            }
            $timeout = ini_get('dq.timeout');
            if (!isset($given['timeout']) && is_string($timeout) && is_numeric($timeout)) {
                $given['timeout'] = (float) $timeout;
            }
            return [$urls, $given];
        }

        /** Throws what libdq.so finds wrong with these databases and options. */
        private static function probe(array $urls, array $given): void
        {
            $ffi = Library::ffi();
            $handle = $ffi->new('dq_xa *');
            Library::check($ffi->dq_xa_new(Library::json($urls, 'databases'), Library::json((object) $given, 'options'), FFI::addr($handle)));
            $ffi->dq_xa_free($handle);
        }

        /**
         * The parameters as a JSON list (null for none): strings that are not UTF-8 as
         * {"base64": ...}. NAN and INF cannot cross (JSON has neither).
         */
        private static function params(array $params, string $database, string $sql): ?string
        {
            if ($params === []) {
                return null;
            }
            $list = [];
            try {
                foreach ($params as $key => $value) {
                    $n = count($list);
                    if ($key !== $n) {
                        throw Library::invalid("params[$key]: params must be a list bound to the ? placeholders in order (keys 0, 1, 2, ...)");
                    }
                    $list[] = match (true) {
                        $value === null, is_bool($value), is_int($value) => $value,
                        is_float($value) => is_finite($value) ? $value
                            : throw Library::invalid("params[$n] " . Library::described($value) . ': expected a finite number (libdq.so takes parameters as JSON, which has no NAN or INF)'),
                        is_string($value) => preg_match('//u', $value) ? $value : ['base64' => base64_encode($value)],
                        default => throw Library::invalid("params[$n] " . Library::described($value) . ': expected int, float, string, bool or null'),
                    };
                }
            } catch (InvalidArgumentException $e) {
                if (preg_match('//u', $database) && preg_match('//u', $sql)) {
                    throw $e;
                }
                return null; // dq.so reports text that is not UTF-8 first: so does libdq.so
            }
            return json_encode($list, Library::JSON);
        }
    }

    /**
     * Messages written in the caller's transaction (Dq\Outbox): publish() (to RabbitMQ) and add()
     * (to the delay queue) insert a row into dq_outbox through the given PDO connection; the
     * gateway's outbox relay sends it once the transaction committed. libdq.so checks the message
     * and gives the row (dq-core's format, the contract with the relay); PDO writes it.
     */
    final class Outbox
    {
        /**
         * Writes a message for $exchange with $routingKey into dq_outbox through $pdo; body and
         * properties as Producer::publish takes them. Returns the message id (the message_id
         * property, generated when not given).
         */
        public static function publish(mixed $pdo, string $exchange, string $routingKey, mixed $body, array $properties = []): string
        {
            $pdo = self::connection($pdo);
            [$bytes, $json] = Producer::message($body, $properties);
            $ffi = Library::ffi();
            $out = $ffi->new('char *');
            self::check($ffi->dq_outbox_publish_row($exchange, $routingKey, $bytes, strlen($bytes), $json, FFI::addr($out)));
            $row = self::row($out);
            self::execute($pdo, $row, 'dq_outbox');
            return $row['message_id'];
        }

        /**
         * Writes a delay-queue message for $topic into dq_outbox through $pdo; $data as
         * Client::add takes it (id, body, delay or fix_time; a delay counts from now, a fix_time
         * string is read in PHP's time zone). Returns the id. Whether the topic is registered is
         * checked when the relay adds it.
         */
        public static function add(mixed $pdo, string $topic, array $data): string
        {
            $pdo = self::connection($pdo);
            $ffi = Library::ffi();
            $out = $ffi->new('char *');
            self::check($ffi->dq_outbox_add_row($topic, Client::message($data, 'data'), date_default_timezone_get(), FFI::addr($out)));
            $row = self::row($out);
            self::execute($pdo, $row, 'dq_outbox');
            return $row['message_id'];
        }

        /**
         * The SQL that creates dq_outbox and dq_inbox, as `dq-gateway migrate` does (for teams
         * that migrate by hand). DDL commits implicitly: never run it inside a transaction.
         */
        public static function schema(): string
        {
            $ffi = Library::ffi();
            $out = $ffi->new('char *');
            Library::check($ffi->dq_outbox_schema(FFI::addr($out)));
            return (string) Library::take($out);
        }

        /**
         * $pdo, if it is a PDO connection on the mysql driver.
         * @internal
         */
        public static function connection(mixed $pdo): \PDO
        {
            $expected = 'expected a PDO connection to MySQL (ThinkPHP: Db::connect()->getPdo(), Laravel: DB::connection()->getPdo())';
            if (!class_exists(\PDO::class, false)) {
                throw Library::invalid('pdo ' . Library::described($pdo) . ": $expected; the pdo_mysql extension is not loaded");
            }
            if (!$pdo instanceof \PDO) {
                throw Library::invalid('pdo ' . Library::described($pdo) . ": $expected");
            }
            $driver = $pdo->getAttribute(\PDO::ATTR_DRIVER_NAME);
            $driver = is_string($driver) ? $driver : '';
            if ($driver !== 'mysql') {
                throw Library::invalid('pdo is a connection to "' . addcslashes($driver, '"\\') . '": the outbox and the inbox live in MySQL or MariaDB (a PDO on the mysql driver)');
            }
            return $pdo;
        }

        /**
         * The row libdq.so gave ({"sql", "params", "message_id"}), freed; parameters that are
         * {"base64": ...} as their bytes.
         * @internal
         * @return array{sql: string, params: list<mixed>, message_id: string}
         */
        public static function row(CData $out): array
        {
            $row = json_decode((string) Library::take($out), true, 512, JSON_THROW_ON_ERROR);
            foreach ($row['params'] as &$value) {
                if (is_array($value)) {
                    $value = base64_decode($value['base64'], true);
                }
            }
            return $row;
        }

        /**
         * Prepares and executes a row's statement on $pdo; the affected row count. A missing
         * $table is Dq\Exception (code 6) naming `dq-gateway migrate`; any other failure is
         * PDO's own: its exception in ERRMODE_EXCEPTION, else a Dq\Exception (code 7) with
         * PDO's error info.
         * @internal
         */
        public static function execute(\PDO $pdo, array $row, string $table): int
        {
            try {
                $statement = $pdo->prepare($row['sql']);
                if (!$statement instanceof \PDOStatement) {
                    throw self::refused($pdo->errorInfo(), $table);
                }
                if ($statement->execute($row['params']) !== true) {
                    throw self::refused($statement->errorInfo(), $table);
                }
            } catch (\PDOException $e) {
                if ($e->getCode() === '42S02') {
                    throw self::missingTable($table, $e->getMessage());
                }
                throw $e;
            }
            return $statement->rowCount();
        }

        /** Throws for a failed call; libdq.so's argument names are PHP's parameter names in dq.so's messages. */
        public static function check(int $result): void
        {
            if ($result !== 0) {
                throw Library::exception($result, preg_replace('/^(properties|data)_json\b/', '$1', Library::lastError()));
            }
        }

        /** PDO returned false (ERRMODE_SILENT or WARNING): its error info [SQLSTATE, code, message]. */
        private static function refused(array $info, string $table): Exception
        {
            $state = is_string($info[0] ?? null) ? $info[0] : '';
            $code = is_int($info[1] ?? null) ? $info[1] : 0;
            $text = is_string($info[2] ?? null) ? $info[2] : '';
            if ($code === 1146) {
                return self::missingTable($table, $text);
            }
            return Library::exception(7, "MySQL refused the $table row: SQLSTATE[$state] $code $text");
        }

        /** libdq.so's explanation of a missing table: Dq\Exception, code 6 (DQ_NOT_FOUND). */
        private static function missingTable(string $table, string $message): Exception
        {
            $ffi = Library::ffi();
            $out = $ffi->new('char *');
            Library::check($ffi->dq_outbox_missing_table($table, '(MySQL: ' . Library::lossy($message) . ')', FFI::addr($out)));
            return Library::exception(6, (string) Library::take($out));
        }
    }

    /**
     * The consumer's side (Dq\Inbox): claim() records a message id in dq_inbox in the caller's
     * transaction, so that a redelivered message is applied once.
     */
    final class Inbox
    {
        /**
         * Claims $messageId for $consumer through $pdo: true the first time, false when it was
         * claimed before (by a transaction that committed). Call it inside the transaction that
         * applies the message; a concurrent claim of the same id waits for that transaction.
         */
        public static function claim(mixed $pdo, string $consumer, mixed $messageId): bool
        {
            $pdo = Outbox::connection($pdo);
            $id = match (true) {
                is_string($messageId) => $messageId,
                is_int($messageId) => (string) $messageId, // as PHP arrays turn numeric keys into
                default => throw Library::invalid('message id ' . Library::described($messageId) . ": expected a string (the message's message_id property)"),
            };
            $ffi = Library::ffi();
            $out = $ffi->new('char *');
            Outbox::check($ffi->dq_outbox_claim_row($consumer, $id, FFI::addr($out)));
            return Outbox::execute($pdo, Outbox::row($out), 'dq_inbox') === 1;
        }
    }
}
