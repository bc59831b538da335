<?php
// Declares what the credit messages travel through (idempotent: run it at every deploy, before
// the gateway and the workers): the direct exchange "transfers", the durable queue
// "transfer.credit" bound to it with key "transfer.credit", and its dead-letter queue
// "transfer.credit.failed" for messages that are not credits.
//   php -d extension=dq.so examples/transfer/topology.php
declare(strict_types=1);

use app\service\Credit;
use app\service\Transfer;

$config = require __DIR__ . '/bootstrap.php';
$producer = new Dq\Producer($config['amqp'] === '' ? [] : ['amqp' => $config['amqp']]);
$producer->declareExchange(Transfer::EXCHANGE, 'direct');
$producer->declareQueue(Credit::FAILED);
$producer->declareQueue(Credit::QUEUE, ['arguments' => [
    'x-dead-letter-exchange' => '',
    'x-dead-letter-routing-key' => Credit::FAILED,
]]);
$producer->bindQueue(Credit::QUEUE, Transfer::EXCHANGE, Transfer::ROUTING_KEY);
echo 'declared: exchange ', Transfer::EXCHANGE, ', queues ', Credit::QUEUE, ' and ', Credit::FAILED, "\n";
