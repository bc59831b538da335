<?php
declare(strict_types=1);

namespace app\service;

use Dq\DeliveryInterface;
use Dq\Inbox;

/**
 * The credit service, in bank2: applies each transfer's credit message once. In one local
 * transaction it claims the message id in dq_inbox (Dq\Inbox::claim) and credits the payee;
 * the delivery is acked only after that commit (worker.php), or the endpoint behind the
 * gateway's subscription answers 200 only after it (endpoint.php, app/controller/Credit.php).
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
        $message = self::read((string) ($delivery->properties()['message_id'] ?? ''), $delivery->body());
        return ['applied' => $this->apply($message['transfer'], $message['to'], $message['amount'])] + $message;
    }

    /**
     * A credit message as it came (its message_id and body, from a delivery or from the
     * X-Dq-Message-Id header and body of a subscription's POST), checked.
     * @return array{transfer: string, to: string, amount: string}
     * @throws BadMessage it is not a credit message
     */
    public static function read(string $messageId, string $body): array
    {
        try {
            $message = json_decode($body, true, 4, JSON_THROW_ON_ERROR);
        } catch (\JsonException $e) {
            throw new BadMessage("message $messageId: the body is not JSON: {$e->getMessage()}");
        }
        if ($messageId === '' || !is_array($message) || ($message['transfer'] ?? null) !== $messageId
            || !is_string($message['to'] ?? null) || $message['to'] === ''
            || !is_string($message['amount'] ?? null) || !preg_match('/^[0-9]{1,12}(\.[0-9]{1,2})?$/', $message['amount'])) {
            throw new BadMessage('not a transfer credit: ' . substr($body, 0, 200));
        }
        return ['transfer' => $messageId, 'to' => $message['to'], 'amount' => $message['amount']];
    }

    /**
     * Credits $amount to $to for transfer $transferId, unless that was done before, in a
     * transaction of its own. True when it credited now, false for a copy.
     */
    public function apply(string $transferId, string $to, string $amount): bool
    {
        for ($attempt = 1; ; $attempt++) {
            $this->bank2->beginTransaction();
            try {
                if (!$this->credit($transferId, $to, $amount)) {
                    $this->bank2->rollBack();   // a copy: credited before, nothing to do
                    return false;
                }
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

    /**
     * The credit's writes, inside the caller's open transaction (ThinkPHP's Db::transaction(),
     * say): the inbox claim, then the credit. False, and nothing written, for a copy.
     */
    public function credit(string $transferId, string $to, string $amount): bool
    {
        if (!$this->bank2->inTransaction()) {
            throw new \LogicException('credit() writes inside the caller\'s transaction: begin one first');
        }
        if (!Inbox::claim($this->bank2, self::CONSUMER, $transferId)) {
            return false;   // credited before
        }
        // The payee's account is opened by its first credit.
        $this->bank2->prepare('INSERT INTO account (id, balance) VALUES (?, ?) ON DUPLICATE KEY UPDATE balance = balance + VALUES(balance)')
            ->execute([$to, $amount]);
        $this->bank2->prepare('INSERT INTO credit (transfer_id, to_account, amount) VALUES (?, ?, ?)')
            ->execute([$transferId, $to, $amount]);
        return true;
    }
}
