<?php
// One transfer from the command line: debits bank1 and writes the credit message, in one
// transaction; the gateway relays it and worker.php credits bank2.
//   php -d extension=dq.so examples/transfer/transfer.php alice frank 100.00 [TRANSFER_ID]
// Databases: DQ_TRANSFER_BANK1 (mysql:// URL), default db_bank1 on 127.0.0.1.
declare(strict_types=1);

use app\service\Database;
use app\service\Transfer;

$config = require __DIR__ . '/bootstrap.php';
if ($argc < 4) {
    fwrite(STDERR, "usage: php transfer.php FROM TO AMOUNT [TRANSFER_ID]\n");
    exit(2);
}
[, $from, $to, $amount] = $argv;
$transfer = new Transfer(Database::connect($config['bank1']));
$result = $transfer->send($from, $to, $amount, $argv[4] ?? null);
echo "$from -> $to $amount: ", match (true) {
    $result['state'] === 'refused' => "refused ({$result['detail']})",
    isset($result['balance']) => "sent (transfer {$result['transfer']}), $from has {$result['balance']} left",
    default => "{$result['detail']} (transfer {$result['transfer']}): nothing debited",
}, "\n";
