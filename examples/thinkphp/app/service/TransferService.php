<?php
declare(strict_types=1);

namespace app\service;

use Dq\Exception as DqException;
use Dq\Producer;

/**
 * A transfer from an account in database A to one in database B, without XA: debit in A (a
 * local transaction), then ask the credit service that owns B over RabbitMQ (Dq\Producer::call,
 * a request with a correlation id and a reply within a timeout), then settle in A:
 *
 * - reply 'credited'              -> the transfer is done;
 * - reply 'rejected'/'cancelled'  -> the credit did not happen and never will: refund in A;
 * - the request could not be routed (no credit queue) -> it was never sent: refund in A;
 * - no reply in time (or the connection broke) -> the credit may have happened, or may still
 *   happen: send a cancel for the same transfer id. The credit service records one outcome per
 *   transfer id, so the cancel either wins (refund) or answers 'credited' (done);
 * - no answer to the cancel either -> 'pending': the money is held in A, and reconcile() (a
 *   retry of the request, or a cron job) settles it later.
 *
 * Plain PHP: the ThinkPHP controller builds it with a DbSourceLedger; the test with an array.
 */
final class TransferService
{
    /** The credit service's request queue (declared durable by the credit worker). */
    public const QUEUE = 'bank.credit';

    public function __construct(
        private Producer $producer,
        private SourceLedger $ledger,
        private float $timeout = 3.0,
        private string $queue = self::QUEUE,
    ) {
    }

    /**
     * @return array{transfer_id: string, state: string, detail: string} state: done, failed or pending
     * @throws InsufficientFunds
     */
    public function transfer(string $transferId, string $from, string $to, int $cents): array
    {
        if ($cents <= 0) {
            throw new \InvalidArgumentException("amount must be positive, not $cents cents");
        }
        $known = $this->ledger->debit($transferId, $from, $to, $cents);
        if ($known !== null && $known !== 'pending') {
            return $this->result($transferId, $known, 'already settled');   // a retried request
        }
        // New, or pending after an earlier attempt: (re)send the credit. The credit service
        // answers a repeated transfer id with the outcome it recorded the first time.
        try {
            $outcome = $this->ask('credit', $transferId, ['to' => $to, 'amount_cents' => $cents]);
        } catch (DqException $e) {
            if ($this->neverSent($e)) {
                return $this->settle($transferId, ['status' => 'rejected', 'reason' => 'not sent: ' . $e->getMessage()]);
            }
            return $this->reconcile($transferId, 'credit: ' . $e->getMessage());
        }
        return $this->settle($transferId, $outcome);
    }

    /**
     * Settles a transfer whose credit is in doubt: a cancel request; its answer is the outcome
     * the credit service recorded (or now records) for the transfer id.
     * @return array{transfer_id: string, state: string, detail: string}
     */
    public function reconcile(string $transferId, string $why = 'reconcile'): array
    {
        $state = $this->ledger->state($transferId);
        if ($state !== 'pending') {
            return $this->result($transferId, $state ?? 'unknown', 'nothing to reconcile');
        }
        try {
            $outcome = $this->ask('cancel', $transferId, ['reason' => $why]);
        } catch (DqException $e) {
            // Still in doubt: keep the money held; a later reconcile() settles it.
            return $this->result($transferId, 'pending', "$why; cancel: " . $e->getMessage());
        }
        return $this->settle($transferId, $outcome);
    }

    /** Sends one request to the credit service and returns its decoded reply. */
    private function ask(string $op, string $transferId, array $fields): array
    {
        $request = ['op' => $op, 'transfer_id' => $transferId] + $fields
            + ['deadline' => microtime(true) + $this->timeout];   // a credit found later than this is cancelled, not applied
        $reply = $this->producer->call('', $this->queue, $request, $this->timeout, [
            'message_id' => "$op-$transferId",   // call() sets reply_to and its own correlation_id
            'type' => "credit.$op",
            'app_id' => 'transfer',
        ]);
        $outcome = json_decode($reply, true);
        if (!is_array($outcome) || !isset($outcome['status'])) {
            throw new \UnexpectedValueException("credit service: unexpected reply $reply");
        }
        return $outcome;
    }

    /** The request was refused before any queue took it: no credit can come of it. */
    private function neverSent(DqException $e): bool
    {
        // 10: unroutable (mandatory: no queue bound) or nacked; 6: the exchange does not exist.
        return in_array($e->getCode(), [6, 10], true);
    }

    private function settle(string $transferId, array $outcome): array
    {
        $detail = $outcome['status'] . (isset($outcome['reason']) ? ": {$outcome['reason']}" : '')
            . (!empty($outcome['duplicate']) ? ' (recorded before)' : '');
        if ($outcome['status'] === 'credited') {
            $this->ledger->complete($transferId);
            return $this->result($transferId, 'done', $detail);
        }
        $this->ledger->refund($transferId, $detail);
        return $this->result($transferId, 'failed', $detail);
    }

    private function result(string $transferId, string $state, string $detail): array
    {
        return ['transfer_id' => $transferId, 'state' => $state, 'detail' => $detail];
    }
}
