<?php
// soak.sh's load: COUNT transfers from bank1's payers to bank2's payees, random amounts, spread
// evenly over SECONDS. Prints "sent=N refused=N failed=N".
//   php -d extension=dq.so soak-load.php COUNT SECONDS
declare(strict_types=1);

use app\service\Database;
use app\service\Transfer;

$config = require __DIR__ . '/bootstrap.php';
$count = (int) ($argv[1] ?? 100);
$seconds = (float) ($argv[2] ?? 10);
$payers = ['alice', 'bob', 'carol', 'dave', 'erin'];   // erin has little: most of hers are refused
$payees = ['frank', 'grace', 'heidi', 'ivan', 'judy']; // judy's account is opened by her first credit

$transfer = new Transfer(Database::connect($config['bank1']));
$done = ['sent' => 0, 'refused' => 0, 'failed' => 0];
$started = microtime(true);
for ($i = 0; $i < $count; $i++) {
    $wait = $started + $i * $seconds / $count - microtime(true);
    if ($wait > 0) {
        usleep((int) ($wait * 1e6));
    }
    $amount = sprintf('%d.%02d', random_int(1, 99), random_int(0, 99));
    try {
        $result = $transfer->send($payers[array_rand($payers)], $payees[array_rand($payees)], $amount);
        $done[$result['state']]++;
    } catch (Throwable $e) {
        // Committed or not, the tables say which: soak-check.php counts from them.
        $done['failed']++;
        fwrite(STDERR, get_class($e) . ": {$e->getMessage()}\n");
        $transfer = new Transfer(Database::connect($config['bank1']));
    }
}
echo "sent={$done['sent']} refused={$done['refused']} failed={$done['failed']}\n";
