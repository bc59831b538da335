<?php
declare(strict_types=1);

namespace app\service;

use Dq\Consumer;
use Dq\Delivery;
use Dq\Exception as DqException;

/**
 * The credit service: takes requests from TransferService::QUEUE, applies each transfer id's
 * credit once (CreditStore), answers with Delivery::reply() and acks. Plain PHP: the ThinkPHP
 * command `php think credit:worker` runs it with a DbCreditStore, the test with a RedisCreditStore;
 * behind dq-gateway's subscription, the controller app/controller/Credit.php calls decide() and
 * the gateway replies with its answer.
 *
 * Order: record the outcome, reply, ack. A worker that dies in between leaves the request
 * unacked; the broker delivers it again and the store answers with the recorded outcome, so a
 * redelivery never credits twice.
 */
final class CreditHandler
{
    public function __construct(private CreditStore $store)
    {
    }

    /** @return array{status: string, reason?: string, duplicate?: bool, transfer_id?: string} the outcome sent back */
    public function handle(Delivery $delivery): array
    {
        $outcome = $this->decide($delivery->body());
        if ($outcome === null) {
            $outcome = ['status' => 'rejected', 'reason' => 'malformed request'];
            $this->answer($delivery, $outcome);
            $delivery->nack(false);   // dropped, or to the queue's dead-letter exchange if it has one
            return $outcome;
        }
        $this->answer($delivery, $outcome);
        $delivery->ack();
        return $outcome;
    }

    /**
     * The outcome of one request (a message's body, from a delivery or from a subscription's
     * POST): the credit applied, refused or cancelled, once per transfer id. Null when the body
     * is not a credit or cancel request.
     * @return null|array{transfer_id: string, status: string, reason?: string, duplicate: bool}
     */
    public function decide(string $body): ?array
    {
        $request = json_decode($body, true);
        $id = is_array($request) ? (string) ($request['transfer_id'] ?? '') : '';
        if ($id === '' || !in_array($request['op'] ?? null, ['credit', 'cancel'], true)) {
            return null;
        }
        if ($request['op'] === 'cancel') {
            $outcome = $this->store->cancel($id, (string) ($request['reason'] ?? 'cancelled by the payer'));
        } elseif (microtime(true) > (float) ($request['deadline'] ?? INF)) {
            // The payer stopped waiting for this one and is cancelling it: never apply it late.
            $outcome = $this->store->cancel($id, 'expired before it was applied');
        } else {
            $outcome = $this->store->credit($id, (string) ($request['to'] ?? ''), (int) ($request['amount_cents'] ?? 0));
        }
        return ['transfer_id' => $id] + $outcome;
    }

    /**
     * Handles requests until $stop() says so (checked at least every $poll seconds).
     * @param callable(): bool $stop
     * @param null|callable(array): void $log called with each outcome
     * @return int how many requests were handled
     */
    public function run(Consumer $consumer, callable $stop, ?callable $log = null, float $poll = 1.0): int
    {
        $handled = 0;
        while (!$stop()) {
            $delivery = $consumer->next($poll);
            if ($delivery === null) {
                continue;
            }
            $outcome = $this->handle($delivery);
            $handled++;
            if ($log !== null) {
                $log($outcome);
            }
        }
        return $handled;
    }

    private function answer(Delivery $delivery, array $outcome): void
    {
        if (empty($delivery->properties()['reply_to'])) {
            return;   // nobody waits (a request published without call())
        }
        try {
            $delivery->reply($outcome);
        } catch (DqException $e) {
            // The outcome is recorded; a payer that missed the reply gets it again from reconcile().
            error_log('credit: reply failed: ' . $e->getMessage());
        }
    }
}
