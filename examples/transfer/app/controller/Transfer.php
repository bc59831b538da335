<?php
declare(strict_types=1);

namespace app\controller;

use app\BaseController;
use app\service\InsufficientFunds;
use app\service\Transfer as TransferService;
use think\facade\Db;
use think\response\Json;

/**
 * POST /transfer  from=alice&to=frank&amount=12.50[&transfer_id=<uuid>]
 *
 * Connection "bank1" in config/database.php. The debit and its credit message share ThinkPHP's
 * transaction: Dq\Outbox::publish writes through the same PDO connection, so both commit or
 * neither does. 202: sent (bank2 is credited as soon as the gateway relays it and the credit
 * worker takes it); 409: refused, nothing written. A client that retries with the same
 * transfer_id gets 202 again and no second debit.
 */
class Transfer extends BaseController
{
    public function create(): Json
    {
        $input = $this->request->only(['from', 'to', 'amount', 'transfer_id'], 'post');
        $this->validate($input, [
            'from' => 'require|alphaDash|max:64',
            'to' => 'require|alphaDash|max:64',
            'amount' => 'require|float|gt:0',
            'transfer_id' => 'length:36',
        ]);
        $amount = number_format((float) $input['amount'], 2, '.', '');
        $id = $input['transfer_id'] ?? TransferService::newId();
        $db = Db::connect('bank1');
        try {
            $balance = $db->transaction(function () use ($db, $id, $input, $amount): string {
                // Inside the transaction ThinkPHP's PDO is connected and has begun it.
                return (new TransferService($db->getPdo()))->debit($id, $input['from'], $input['to'], $amount);
            });
        } catch (InsufficientFunds $e) {
            return json(['state' => 'refused', 'transfer' => $id, 'detail' => $e->getMessage()], 409);
        } catch (\PDOException $e) {
            // ThinkPHP rolled back. The same transfer id committed before: a retried request.
            if (($e->errorInfo[1] ?? null) === 1062 && (new TransferService($db->getPdo()))->exists($id)) {
                return json(['state' => 'sent', 'transfer' => $id, 'detail' => 'sent before'], 202);
            }
            throw $e;
        }
        return json(['state' => 'sent', 'transfer' => $id, 'balance' => $balance], 202);
    }
}
