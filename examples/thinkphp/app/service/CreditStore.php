<?php
declare(strict_types=1);

namespace app\service;

/**
 * The receiving side of a transfer, in database B. Each transfer id has exactly one outcome,
 * recorded in the same atomic step as the credit itself (an idempotency key): the first request
 * decides it, every later one (a redelivery, a retry, a cancel) gets it back with
 * 'duplicate' => true and changes nothing.
 *
 * Outcomes: ['status' => 'credited'], ['status' => 'rejected', 'reason' => ...] (e.g. unknown
 * account), ['status' => 'cancelled', 'reason' => ...] (cancelled or expired before it was applied).
 */
interface CreditStore
{
    /** @return array{status: string, reason?: string, duplicate: bool} */
    public function credit(string $transferId, string $account, int $cents): array;

    /** Makes sure the credit never happens, unless it already did. @return array{status: string, reason?: string, duplicate: bool} */
    public function cancel(string $transferId, string $reason): array;
}
