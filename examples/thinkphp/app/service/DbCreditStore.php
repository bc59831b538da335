<?php
declare(strict_types=1);

namespace app\service;

use think\facade\Db;

/**
 * CreditStore on ThinkPHP's Db, connection "db_b": an idempotency key table `credit_request`
 * (transfer_id PRIMARY KEY, outcome JSON) written in the same transaction as the credit to
 * `account`. INSERT IGNORE claims the transfer id; a concurrent duplicate waits on the row lock
 * and then finds it taken, and reads the outcome the first one committed.
 */
final class DbCreditStore implements CreditStore
{
    public function __construct(private string $connection = 'db_b')
    {
    }

    public function credit(string $transferId, string $account, int $cents): array
    {
        return $this->decide($transferId, function ($db) use ($account, $cents): array {
            $credited = $db->table('account')->where('id', $account)->inc('balance_cents', $cents)->update();
            return $credited === 1 ? ['status' => 'credited'] : ['status' => 'rejected', 'reason' => "unknown account $account"];
        });
    }

    public function cancel(string $transferId, string $reason): array
    {
        return $this->decide($transferId, fn (): array => ['status' => 'cancelled', 'reason' => $reason]);
    }

    private function decide(string $transferId, callable $apply): array
    {
        return Db::connect($this->connection)->transaction(function () use ($transferId, $apply): array {
            $db = Db::connect($this->connection);
            $claimed = $db->table('credit_request')->extra('IGNORE')
                ->insert(['transfer_id' => $transferId, 'outcome' => '{}', 'created_at' => date('Y-m-d H:i:s')]);
            if ($claimed === 0) {
                $prior = $db->table('credit_request')->where('transfer_id', $transferId)->lock(true)->value('outcome');
                return json_decode((string) $prior, true) + ['duplicate' => true];
            }
            $outcome = $apply($db);
            $db->table('credit_request')->where('transfer_id', $transferId)->update(['outcome' => json_encode($outcome)]);
            return $outcome + ['duplicate' => false];
        });
    }
}
