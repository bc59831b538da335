<?php
declare(strict_types=1);

namespace app\controller;

use app\BaseController;
use app\service\DbSourceLedger;
use app\service\InsufficientFunds;
use app\service\TransferService;
use Dq\Producer;
use think\response\Json;

/**
 * POST /transfer  transfer_id=..&from=..&to=..&amount=12.34
 *
 * Before: one action that opened db_a and db_b and ran an XA transaction across them (or two
 * local transactions and hope). Now db_a is debited here and the credit in db_b is asked of the
 * credit service over RabbitMQ (TransferService, Dq\Producer::call); the controller only maps
 * the outcome to HTTP. The client picks transfer_id (a UUID) and may retry with it safely.
 */
class Transfer extends BaseController
{
    public function create(): Json
    {
        $input = $this->request->only(['transfer_id', 'from', 'to', 'amount'], 'post');
        $this->validate($input, [
            'transfer_id' => 'require|alphaDash|max:64',
            'from' => 'require|alphaDash|max:64',
            'to' => 'require|alphaDash|max:64|different:from',
            'amount' => 'require|float|gt:0',
        ]);
        // Dq\Producer uses dq.amqp from php.ini; its connection is the FPM worker's, kept across requests.
        $service = new TransferService(new Producer(), new DbSourceLedger('db_a'), (float) config('app.credit_timeout', 3.0));
        try {
            $result = $service->transfer($input['transfer_id'], $input['from'], $input['to'], (int) round($input['amount'] * 100));
        } catch (InsufficientFunds $e) {
            return json(['transfer_id' => $input['transfer_id'], 'state' => 'refused', 'detail' => $e->getMessage()], 409);
        }
        // done: 200; failed (refunded): 422; pending (money held, settled later by credit:reconcile): 202.
        return json($result, ['done' => 200, 'failed' => 422, 'pending' => 202][$result['state']] ?? 500);
    }
}
