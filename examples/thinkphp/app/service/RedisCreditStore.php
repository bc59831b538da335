<?php
declare(strict_types=1);

namespace app\service;

/**
 * A CreditStore on Redis (phpredis): balances in a hash, one outcome key per transfer id. The
 * check of the key, the credit and the SET of the outcome are one Lua script, so they happen
 * together or not at all: the first request for a transfer id decides, later ones read it back
 * (the same guarantee as SET NX, with the credit inside it).
 */
final class RedisCreditStore implements CreditStore
{
    private const SCRIPT = <<<'LUA'
        local prior = redis.call('GET', KEYS[1])
        if prior then return {prior, 1} end
        local outcome
        if ARGV[1] == 'credit' then
          if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 0 then
            outcome = cjson.encode({status = 'rejected', reason = 'unknown account ' .. ARGV[2]})
          else
            redis.call('HINCRBY', KEYS[2], ARGV[2], ARGV[3])
            outcome = cjson.encode({status = 'credited'})
          end
        else
          outcome = cjson.encode({status = 'cancelled', reason = ARGV[5]})
        end
        redis.call('SET', KEYS[1], outcome, 'EX', ARGV[4])
        return {outcome, 0}
        LUA;

    /**
     * @param string $prefix keys: "<prefix>:balances" (account => cents), "<prefix>:credit:<transfer id>"
     * @param int $keepSeconds how long an outcome is kept: longer than any retry or reconciliation
     */
    public function __construct(private \Redis $redis, private string $prefix = 'bank', private int $keepSeconds = 7 * 86400)
    {
    }

    public function credit(string $transferId, string $account, int $cents): array
    {
        return $this->decide('credit', $transferId, $account, $cents, '');
    }

    public function cancel(string $transferId, string $reason): array
    {
        return $this->decide('cancel', $transferId, '', 0, $reason);
    }

    public function balance(string $account): ?int
    {
        $cents = $this->redis->hGet("{$this->prefix}:balances", $account);
        return $cents === false ? null : (int) $cents;
    }

    public function open(string $account, int $cents = 0): void
    {
        $this->redis->hSetNx("{$this->prefix}:balances", $account, (string) $cents);
    }

    private function decide(string $op, string $transferId, string $account, int $cents, string $reason): array
    {
        $keys = ["{$this->prefix}:credit:$transferId", "{$this->prefix}:balances"];
        $result = $this->redis->eval(self::SCRIPT, [...$keys, $op, $account, $cents, $this->keepSeconds, $reason], count($keys));
        if (!is_array($result)) {
            throw new \RuntimeException('credit store: ' . ($this->redis->getLastError() ?? 'no answer from Redis'));
        }
        return json_decode($result[0], true) + ['duplicate' => (bool) $result[1]];
    }
}
