<?php
// The example's classes and where its scripts find the databases and RabbitMQ: environment
// variables, with the defaults run.sh uses.
declare(strict_types=1);

foreach (['BadMessage', 'InsufficientFunds', 'Database', 'Transfer', 'Credit'] as $class) {
    require_once __DIR__ . "/app/service/$class.php";
}

return [
    // The same URLs as gateway.toml's [databases].
    'bank1' => getenv('DQ_TRANSFER_BANK1') ?: 'mysql://root@127.0.0.1:3306/db_bank1',
    'bank2' => getenv('DQ_TRANSFER_BANK2') ?: 'mysql://root@127.0.0.1:3306/db_bank2',
    // RabbitMQ for worker.php and topology.php; empty: php.ini's dq.amqp. (The relay's is
    // gateway.toml's `amqp`, or DQ_AMQP.)
    'amqp' => getenv('DQ_TRANSFER_AMQP') ?: '',
    // endpoint.php: the key of X-Dq-Signature, the subscription's `secret`; empty: unsigned.
    'secret' => getenv('DQ_TRANSFER_SECRET') ?: '',
];
