<?php
declare(strict_types=1);

namespace app\service;

use Dq\Outbox;

/**
 * The debiting side, in bank1: takes the amount from the payer's account, records the transfer
 * and writes the credit message into dq_outbox, all in one local transaction. The message
 * exists if and only if the debit committed; dq-gateway's relay publishes it afterwards (to
 * exchange "transfers", routing key "transfer.credit"), and Credit applies it in bank2.
 *
 * Before: the controller debited, committed, then published with php-amqplib. A process that
 * died (or a broker that was away) between the commit and the publish lost the credit: the
 * money left bank1 and never arrived. Publishing before the commit was no better: a rollback
 * after it credited money that never left.
 */
final class Transfer
{
    public const EXCHANGE = 'transfers';
    public const ROUTING_KEY = 'transfer.credit';

    public function __construct(private \PDO $bank1)
    {
    }

    /**
     * Sends $amount (a decimal string, "12.50") from $from (bank1) to $to (bank2), in a
     * transaction of its own. $transferId makes a retry safe: the same id again sends nothing.
     * @return array{state: string, transfer: string, balance?: string, detail?: string}
     *         sent (the debit and its message committed), or refused (nothing was written)
     */
    public function send(string $from, string $to, string $amount, ?string $transferId = null): array
    {
        $transferId ??= self::newId();
        $this->bank1->beginTransaction();
        try {
            $balance = $this->debit($transferId, $from, $to, $amount);
            $this->bank1->commit();
            return ['state' => 'sent', 'transfer' => $transferId, 'balance' => $balance];
        } catch (\Throwable $e) {
            $this->rollBack();
            if ($e instanceof InsufficientFunds) {
                return ['state' => 'refused', 'transfer' => $transferId, 'detail' => $e->getMessage()];
            }
            // 1062: the transfer id is taken; a retry of a transfer that committed before.
            if ($e instanceof \PDOException && ($e->errorInfo[1] ?? null) === 1062 && $this->exists($transferId)) {
                return ['state' => 'sent', 'transfer' => $transferId, 'detail' => 'sent before'];
            }
            // Anything else: nothing was written, unless the commit itself failed half-way
            // (the connection broke): then exists($transferId) tells, debit and message alike.
            throw $e;
        }
    }

    /**
     * The transfer's writes, inside the caller's open transaction (ThinkPHP's
     * Db::transaction(), say): record, debit, message. Returns the payer's new balance.
     * @throws InsufficientFunds (the caller rolls back)
     */
    public function debit(string $transferId, string $from, string $to, string $amount): string
    {
        if (!$this->bank1->inTransaction()) {
            throw new \LogicException('debit() writes inside the caller\'s transaction: begin one first');
        }
        if (!preg_match('/^(0|[1-9][0-9]{0,11})(\.[0-9]{1,2})?$/', $amount) || (float) $amount <= 0) {
            throw new \InvalidArgumentException("amount $amount: expected a positive decimal with at most 2 decimals");
        }
        // First the transfer's row: a transfer id sent before fails here (duplicate key), before
        // any money moves.
        $this->bank1->prepare('INSERT INTO transfer (id, from_account, to_account, amount) VALUES (?, ?, ?, ?)')
            ->execute([$transferId, $from, $to, $amount]);
        $debit = $this->bank1->prepare('UPDATE account SET balance = balance - ? WHERE id = ? AND balance >= ?');
        $debit->execute([$amount, $from, $amount]);
        if ($debit->rowCount() !== 1) {
            throw new InsufficientFunds("$from cannot pay $amount");
        }
        // The message, in the same transaction. Its message_id is the transfer id: the relay
        // may publish it twice around a crash, and the credit service keeps one by it.
        // mandatory: with no queue bound to take it, the row stays in the outbox (retried)
        // rather than being dropped by the broker.
        Outbox::publish($this->bank1, self::EXCHANGE, self::ROUTING_KEY,
            ['transfer' => $transferId, 'from' => $from, 'to' => $to, 'amount' => $amount],
            ['message_id' => $transferId, 'mandatory' => true, 'type' => 'transfer.credit', 'app_id' => 'bank1']);
        $balance = $this->bank1->prepare('SELECT balance FROM account WHERE id = ?');
        $balance->execute([$from]);
        return (string) $balance->fetchColumn();
    }

    /** Whether transfer $transferId was recorded (committed). */
    public function exists(string $transferId): bool
    {
        $found = $this->bank1->prepare('SELECT 1 FROM transfer WHERE id = ?');
        $found->execute([$transferId]);
        return $found->fetchColumn() !== false;
    }

    /** Rolls back what is open; a connection that broke took its transaction with it. */
    private function rollBack(): void
    {
        try {
            if ($this->bank1->inTransaction()) {
                $this->bank1->rollBack();
            }
        } catch (\PDOException) {
        }
    }

    /** A new transfer id: a random UUID (version 4). */
    public static function newId(): string
    {
        $bytes = random_bytes(16);
        $bytes[6] = chr(ord($bytes[6]) & 0x0f | 0x40);
        $bytes[8] = chr(ord($bytes[8]) & 0x3f | 0x80);
        return vsprintf('%s%s-%s-%s-%s-%s%s%s', str_split(bin2hex($bytes), 4));
    }
}
