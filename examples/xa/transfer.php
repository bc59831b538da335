<?php
// The order/finance payment as a plain PHP script:
//   php -d extension=dq.so examples/xa/transfer.php alice 100.00
// Databases: DQ_XA_ORDER and DQ_XA_FINANCE (mysql:// URLs), default db_order and db_finance on
// 127.0.0.1; the decision log: dq.mysql (php.ini, default mysql://root@127.0.0.1:3306/dq).
declare(strict_types=1);

require __DIR__ . '/app/service/InsufficientFunds.php';
require __DIR__ . '/app/service/OrderPayment.php';

[$user, $amount] = [$argv[1] ?? 'alice', $argv[2] ?? '100.00'];
$payment = new app\service\OrderPayment([
    'order' => getenv('DQ_XA_ORDER') ?: 'mysql://root@127.0.0.1:3306/db_order',
    'finance' => getenv('DQ_XA_FINANCE') ?: 'mysql://root@127.0.0.1:3306/db_finance',
]);
$result = $payment->pay($user, $amount);
echo $result['state'] === 'paid'
    ? "$user paid $amount: order {$result['order_id']}, balance {$result['balance']}\n"
    : "$user refused: {$result['detail']}\n";
