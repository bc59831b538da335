<?php
declare(strict_types=1);

namespace app\service;

/**
 * The paying side of a transfer, in database A: one local transaction per call.
 * DbSourceLedger is the ThinkPHP implementation; anything with these four methods will do.
 */
interface SourceLedger
{
    /**
     * Records transfer $transferId as pending and takes $cents from $from, in one transaction.
     * Returns null when it did, or the transfer's state when the id was already recorded (a
     * retried request: nothing is debited twice).
     * @throws InsufficientFunds when $from has less than $cents (nothing recorded)
     */
    public function debit(string $transferId, string $from, string $to, int $cents): ?string;

    /** pending -> done: the credit side applied it. */
    public function complete(string $transferId): void;

    /** pending -> failed, and the money back to the payer, in one transaction (once). */
    public function refund(string $transferId, string $reason): void;

    /** 'pending', 'done', 'failed', or null when unknown. */
    public function state(string $transferId): ?string;
}
