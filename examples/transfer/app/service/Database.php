<?php
declare(strict_types=1);

namespace app\service;

/** PDO connections from the mysql:// URLs that gateway.toml's [databases] uses too. */
final class Database
{
    /** A PDO connection to the database of $url that throws on errors. */
    public static function connect(string $url): \PDO
    {
        $parts = parse_url($url);
        $database = trim((string) ($parts['path'] ?? ''), '/');
        if (($parts['scheme'] ?? '') !== 'mysql' || !isset($parts['host']) || $database === '') {
            // Not the URL itself: it may hold a password.
            throw new \InvalidArgumentException('expected a mysql://user:password@host:port/database URL');
        }
        $dsn = sprintf('mysql:host=%s;port=%d;dbname=%s;charset=utf8mb4', $parts['host'], $parts['port'] ?? 3306, rawurldecode($database));
        return new \PDO($dsn, rawurldecode($parts['user'] ?? 'root'), rawurldecode($parts['pass'] ?? ''), [
            \PDO::ATTR_ERRMODE => \PDO::ERRMODE_EXCEPTION,
            \PDO::ATTR_EMULATE_PREPARES => false,
        ]);
    }
}
