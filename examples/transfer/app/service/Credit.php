<?php
declare(strict_types=1);

namespace app\service;

use Dq\DeliveryInterface;
use Dq\Inbox;

/**
 * The credit service, in bank2: applies each transfer's credit message once. In one local
 * transaction it claims the message id in dq_inbox (Dq\Inbox::claim) and credits the payee;
 * the delivery is acked only after that commit.
 *
 * Messages come at least once: the relay may publish one twice around a gateway crash, and
 * RabbitMQ delivers again whatever a worker took and did not ack before it died (a worker
 * killed between its commit and its ack credited already). The claim tells: true the first
 * time, false for every copy after a committed credit, and a copy that arrives while the first
 * is being applied waits for that transaction and then gets its answer.
 */
final class Credit
{
    /** The name this service claims messages under in dq_inbox. */
    public const CONSUMER = 'credit-service';
    /** Where the credit messages wait (bound to Transfer::EXCHANGE, Transfer::ROUTING_KEY). */
    public const QUEUE = 'transfer.credit';
    /** The queue's dead letters: messages that are not credits (BadMessage). */
    public const FAILED = 'transfer.credit.failed';

    /** Deadlocks and lock wait timeouts: the transaction is tried again, this often at most. */
    private const ATTEMPTS = 3;

    public function __construct(private \PDO $bank2)
    {
    }

    /**
     * One delivery: checks it and applies it. `applied` is true when it credited now, false
     * when the transfer was credited before (this delivery is a copy).
     * @return array{applied: bool, transfer: string, to: string, amount: string}
     * @throws BadMessage it is not a credit message (settle it as failed: it never will be one)
     * @throws \PDOException bank2 failed (give it back to the queue: it is applied later)
     */
    public function handle(DeliveryInterface $delivery): array
    {
        $id = $delivery->properties()['message_id'] ?? '';
        try {
            $message = json_decode($delivery->body(), true, 4, JSON_THROW_ON_ERROR);
        } catch (\JsonException $e) {
            throw new BadMessage("message $id: the body is not JSON: {$e->getMessage()}");
        }
        if (!is_string($id) || $id === '' || !is_array($message) || ($message['transfer'] ?? null) !== $id
            || !is_string($message['to'] ?? null) || $message['to'] === ''
            || !is_string($message['amount'] ?? null) || !preg_match('/^[0-9]{1,12}(\.[0-9]{1,2})?$/', $message['amount'])) {
            throw new BadMessage('not a transfer credit: ' . substr($delivery->body(), 0, 200));
        }
        $applied = $this->apply($id, $message['to'], $message['amount']);
        return ['applied' => $applied, 'transfer' => $id, 'to' => $message['to'], 'amount' => $message['amount']];
    }

    /** Credits $amount to $to for transfer $transferId, unless that was done before. */
    public function apply(string $transferId, string $to, string $amount): bool
    {
        for ($attempt = 1; ; $attempt++) {
            $this->bank2->beginTransaction();
            try {
                if (!Inbox::claim($this->bank2, self::CONSUMER, $transferId)) {
                    $this->bank2->rollBack();   // a copy: credited before, nothing to do
                    return false;
                }
                // The payee's account is opened by its first credit.
                $this->bank2->prepare('INSERT INTO account (id, balance) VALUES (?, ?) ON DUPLICATE KEY UPDATE balance = balance + VALUES(balance)')
                    ->execute([$to, $amount]);
                $this->bank2->prepare('INSERT INTO credit (transfer_id, to_account, amount) VALUES (?, ?, ?)')
                    ->execute([$transferId, $to, $amount]);
                $this->bank2->commit();
                return true;
            } catch (\PDOException $e) {
                try {
                    $this->bank2->rollBack();
                } catch (\PDOException) {
                    // The connection broke: its transaction went with it.
                }
                // 1213 deadlock, 1205 lock wait timeout: nothing was applied; try again.
                if ($attempt < self::ATTEMPTS && in_array($e->errorInfo[1] ?? null, [1205, 1213], true)) {
                    continue;
                }
                throw $e;
            }
        }
    }
}
