<?php
declare(strict_types=1);

namespace app\controller;

use app\BaseController;
use app\service\CreditHandler;
use app\service\DbCreditStore;
use think\db\exception\DbException;
use think\facade\Log;
use think\response\Json;

/**
 * POST /dq/credit: the credit service as the endpoint of dq-gateway's subscription "bank-credit"
 * (gateway.toml), in place of `php think credit:worker`. The gateway consumes
 * TransferService::QUEUE and POSTs each request ({op: credit|cancel, transfer_id, ...}) with
 * X-Dq-Signature: sha256=<HMAC-SHA256 of the body> with the subscription's secret
 * (DQ_CREDIT_SECRET in .env; unset: not checked).
 *
 * The 200 answer's body is the reply: the gateway publishes it to the request's reply_to with
 * its correlation_id, so TransferService's Dq\Producer::call() gets it as from the worker. The
 * outcome is recorded in db_b before the answer (DbCreditStore: one per transfer id), so a
 * request that comes again (the answer was lost, the gateway retried) gets the same outcome back
 * and credits nothing twice. 503 when db_b failed (nothing recorded: the gateway tries again);
 * 410 for a body that is not a request (the gateway gives it up to <prefix>.dead.bank-credit at
 * once; unlike the worker, no "rejected" reply goes back, and the caller times out).
 */
class Credit extends BaseController
{
    public function answer(): Json
    {
        $body = $this->request->getInput();   // the raw body: the signature is over these bytes
        $secret = (string) env('DQ_CREDIT_SECRET', '');
        $signature = (string) $this->request->header('x-dq-signature', '');
        if ($secret !== '' && !hash_equals('sha256=' . hash_hmac('sha256', $body, $secret), $signature)) {
            return json(['error' => 'X-Dq-Signature does not match the body'], 401);
        }
        try {
            $outcome = (new CreditHandler(new DbCreditStore('db_b')))->decide($body);
        } catch (\PDOException | DbException $e) {
            Log::error('credit: db_b: ' . $e->getMessage());
            return json(['error' => 'db_b is not available'], 503);
        }
        if ($outcome === null) {
            return json(['status' => 'rejected', 'reason' => 'malformed request'], 410);
        }
        return json($outcome);
    }
}
