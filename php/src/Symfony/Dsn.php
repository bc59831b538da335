<?php

declare(strict_types=1);

namespace Dq\Symfony;

use Symfony\Component\Messenger\Exception\InvalidArgumentException;

/**
 * A dq:// or dq+amqp:// DSN taken apart. Our own parser rather than parse_url(): a list of
 * Redis shards (host:6379,host:6380) is not a URL that parse_url() takes, and each bad part
 * must be refused by name, with the password masked.
 *
 * @internal
 */
final class Dsn
{
    /**
     * @param list<array{host: string, port: ?int}> $hosts empty for "default" (the ini settings)
     * @param list<string> $path the path's segments, percent-decoded
     * @param array<string, string> $query
     */
    private function __construct(
        public readonly string $scheme,
        public readonly ?string $user,
        public readonly ?string $password,
        public readonly array $hosts,
        public readonly array $path,
        public readonly array $query,
        public readonly string $shown,
    ) {
    }

    public static function parse(#[\SensitiveParameter] string $dsn): self
    {
        $pattern = '~^(?<scheme>[a-z][a-z0-9+.-]*)://(?:(?<userinfo>[^@/?#]*)@)?(?<authority>[^/?#]*)(?<path>/[^?#]*)?(?:\?(?<query>[^#]*))?$~i';
        $shown = self::mask($dsn);
        if (!preg_match($pattern, $dsn, $m)) {
            throw new InvalidArgumentException(sprintf('The dq DSN "%s" is not a URL: expected dq://host:port/topic or dq+amqp://user:pass@host:port/vhost/queue.', $shown));
        }
        $scheme = strtolower($m['scheme']);
        if ($scheme !== 'dq' && $scheme !== 'dq+amqp') {
            throw new InvalidArgumentException(sprintf('The scheme "%s" of DSN "%s" is not dq:// or dq+amqp://.', $m['scheme'], $shown));
        }
        [$user, $password] = [null, null];
        if (($m['userinfo'] ?? '') !== '') {
            $parts = explode(':', $m['userinfo'], 2);
            $user = rawurldecode($parts[0]);
            $password = isset($parts[1]) ? rawurldecode($parts[1]) : null;
        }

        return new self(
            $scheme,
            $user,
            $password,
            self::hosts($m['authority'], $shown),
            self::path($m['path'] ?? ''),
            self::query($m['query'] ?? '', $shown),
            $shown,
        );
    }

    /** The DSN with its password replaced by ***, for messages. */
    public static function mask(#[\SensitiveParameter] string $dsn): string
    {
        return (string) preg_replace('~^([^:/]+://[^:@/]*:)[^@/]*@~', '$1***@', $dsn);
    }

    public function isDefaultHost(): bool
    {
        return $this->hosts === [];
    }

    /** @return list<array{host: string, port: ?int}> */
    private static function hosts(string $authority, string $shown): array
    {
        if ($authority === '') {
            throw new InvalidArgumentException(sprintf('DSN "%s" names no host: give host:port, or "default" for the dq.redis / dq.amqp ini settings.', $shown));
        }
        if (strtolower($authority) === 'default') {
            return [];
        }
        $hosts = [];
        foreach (explode(',', $authority) as $item) {
            if (!preg_match('~^(?<host>\[[0-9a-f:.]+\]|[^:\[\]]+)(?::(?<port>[^:]*))?$~i', $item, $h)) {
                throw new InvalidArgumentException(sprintf('The host "%s" of DSN "%s" is not host or host:port.', $item, $shown));
            }
            $port = null;
            if (isset($h['port'])) {
                if (!preg_match('~^[0-9]{1,5}$~', $h['port']) || (int) $h['port'] < 1 || (int) $h['port'] > 65535) {
                    throw new InvalidArgumentException(sprintf('The port "%s" of DSN "%s" is not a number from 1 to 65535.', $h['port'], $shown));
                }
                $port = (int) $h['port'];
            }
            $hosts[] = ['host' => $h['host'], 'port' => $port];
        }

        return $hosts;
    }

    /** @return list<string> */
    private static function path(string $path): array
    {
        $segments = [];
        foreach (explode('/', trim($path, '/')) as $segment) {
            if ($segment !== '') {
                $segments[] = rawurldecode($segment);
            }
        }

        return $segments;
    }

    /** @return array<string, string> */
    private static function query(string $query, string $shown): array
    {
        $values = [];
        foreach (explode('&', $query) as $pair) {
            if ($pair === '') {
                continue;
            }
            [$name, $value] = array_pad(explode('=', $pair, 2), 2, '');
            $name = urldecode($name);
            if ($name === '') {
                throw new InvalidArgumentException(sprintf('The query of DSN "%s" has a value without a name ("%s").', $shown, $pair));
            }
            $values[$name] = urldecode($value);
        }

        return $values;
    }
}
