<?php
// config/console.php: the commands of this example (merge into your own).
return [
    'commands' => [
        'credit:worker' => \app\command\CreditWorker::class,
        'credit:reconcile' => \app\command\TransferReconcile::class,
    ],
];
