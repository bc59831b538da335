<?php
declare(strict_types=1);

namespace app\service;

use think\facade\Db;

/**
 * SourceLedger on ThinkPHP's Db, connection "db_a" (config/database.php): tables `account`
 * (id, balance_cents) and `transfer` (id, from_account, to_account, amount_cents, state, detail,
 * updated_at), see database.sql.
 */
final class DbSourceLedger implements SourceLedger
{
    public function __construct(private string $connection = 'db_a')
    {
    }

    public function debit(string $transferId, string $from, string $to, int $cents): ?string
    {
        return Db::connect($this->connection)->transaction(function () use ($transferId, $from, $to, $cents): ?string {
            $db = Db::connect($this->connection);
            $inserted = $db->table('transfer')->extra('IGNORE')->insert([
                'id' => $transferId, 'from_account' => $from, 'to_account' => $to,
                'amount_cents' => $cents, 'state' => 'pending', 'detail' => '', 'updated_at' => date('Y-m-d H:i:s'),
            ]);
            if ($inserted === 0) {
                return (string) $db->table('transfer')->where('id', $transferId)->value('state');
            }
            $debited = $db->table('account')->where('id', $from)->where('balance_cents', '>=', $cents)
                ->dec('balance_cents', $cents)->update();
            if ($debited !== 1) {
                throw new InsufficientFunds("account $from has less than $cents cents");   // rolls back the insert
            }
            return null;
        });
    }

    public function complete(string $transferId): void
    {
        Db::connect($this->connection)->table('transfer')->where('id', $transferId)->where('state', 'pending')
            ->update(['state' => 'done', 'updated_at' => date('Y-m-d H:i:s')]);
    }

    public function refund(string $transferId, string $reason): void
    {
        Db::connect($this->connection)->transaction(function () use ($transferId, $reason): void {
            $db = Db::connect($this->connection);
            $transfer = $db->table('transfer')->where('id', $transferId)->lock(true)->find();
            if (!$transfer || $transfer['state'] !== 'pending') {
                return;   // refunded (or completed) already
            }
            $db->table('account')->where('id', $transfer['from_account'])->inc('balance_cents', (int) $transfer['amount_cents'])->update();
            $db->table('transfer')->where('id', $transferId)
                ->update(['state' => 'failed', 'detail' => mb_substr($reason, 0, 255), 'updated_at' => date('Y-m-d H:i:s')]);
        });
    }

    public function state(string $transferId): ?string
    {
        $state = Db::connect($this->connection)->table('transfer')->where('id', $transferId)->value('state');
        return $state === null ? null : (string) $state;
    }
}
