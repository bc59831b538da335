<?php
declare(strict_types=1);

namespace app\controller;

use app\BaseController;
use app\service\BadMessage;
use app\service\Credit as CreditService;
use think\db\exception\DbException;
use think\facade\Db;
use think\facade\Log;
use think\response\Json;

/**
 * POST /dq/credit: the credit service (bank2) as the endpoint of dq-gateway's subscription
 * "transfer-credit" (gateway-subscription.toml), in place of worker.php. The gateway consumes
 * "transfer.credit" and POSTs each message: its body as the relay published it, the transfer id
 * in X-Dq-Message-Id, X-Dq-Signature: sha256=<HMAC-SHA256 of the body> with the subscription's
 * secret (DQ_TRANSFER_SECRET in .env; unset: not checked).
 *
 * Connection "bank2" in config/database.php. The inbox claim and the credit share ThinkPHP's
 * transaction: a copy of a message credited before claims nothing and writes nothing. 200 after
 * the commit (the gateway acks); 410 for a message that is not a credit (the gateway gives it up
 * to its dead-letter queue at once); 401 and 503 leave nothing written, and the gateway asks
 * again on its retry ladder.
 */
class Credit extends BaseController
{
    public function receive(): Json
    {
        $body = $this->request->getInput();   // the raw body: the signature is over these bytes
        $secret = (string) env('DQ_TRANSFER_SECRET', '');
        $signature = (string) $this->request->header('x-dq-signature', '');
        if ($secret !== '' && !hash_equals('sha256=' . hash_hmac('sha256', $body, $secret), $signature)) {
            return json(['error' => 'X-Dq-Signature does not match the body'], 401);
        }
        try {
            $message = CreditService::read((string) $this->request->header('x-dq-message-id', ''), $body);
        } catch (BadMessage $e) {
            return json(['error' => $e->getMessage()], 410);
        }
        $db = Db::connect('bank2');
        try {
            $applied = $db->transaction(function () use ($db, $message): bool {
                // Inside the transaction ThinkPHP's PDO is connected and has begun it.
                return (new CreditService($db->getPdo()))->credit($message['transfer'], $message['to'], $message['amount']);
            });
        } catch (\PDOException | DbException $e) {
            // ThinkPHP rolled back: nothing was applied. A deadlock too: the gateway's retry
            // ladder is the loop that tries again.
            Log::error('credit: bank2: ' . $e->getMessage());
            return json(['error' => 'bank2 is not available'], 503);
        }
        return json(['applied' => $applied] + $message);
    }
}
