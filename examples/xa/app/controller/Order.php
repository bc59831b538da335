<?php
declare(strict_types=1);

namespace app\controller;

use app\BaseController;
use app\service\OrderPayment;
use think\response\Json;

/**
 * POST /order  username=..&money=12.34
 *
 * The databases are named in config/database.php, beside ThinkPHP's own connections:
 *   'xa' => ['order' => 'mysql://app:secret@db1:3306/db_order', 'finance' => 'mysql://app:secret@db2:3306/db_finance'],
 * dq.so keeps one connection per database in each FPM worker across requests.
 */
class Order extends BaseController
{
    public function create(): Json
    {
        $input = $this->request->only(['username', 'money'], 'post');
        $this->validate($input, [
            'username' => 'require|alphaDash|max:64',
            'money' => 'require|float|gt:0',
        ]);
        $payment = new OrderPayment(config('database.xa'));
        $result = $payment->pay($input['username'], number_format((float) $input['money'], 2, '.', ''));
        return json($result, $result['state'] === 'paid' ? 201 : 409);
    }
}
