<?php
// soak.sh's verdict, from the two databases: both balances and their total against the total
// before the run, and every transfer recorded in bank1 credited exactly once in bank2 (same
// payee, same amount), every credit claimed in the inbox, every outbox row relayed. Exit 0 when
// all holds.
//   php -d extension=dq.so soak-check.php INITIAL_TOTAL_CENTS
declare(strict_types=1);

use app\service\Credit;
use app\service\Database;

$config = require __DIR__ . '/bootstrap.php';
$initial = (int) ($argv[1] ?? -1);
$bank1 = Database::connect($config['bank1']);
$bank2 = Database::connect($config['bank2']);
$cents = fn (PDO $db): int => (int) $db->query('SELECT CAST(COALESCE(SUM(balance), 0) * 100 AS SIGNED) FROM account')->fetchColumn();
$money = fn (int $cents): string => sprintf('%s%d.%02d', $cents < 0 ? '-' : '', intdiv(abs($cents), 100), abs($cents) % 100);

$in1 = $cents($bank1);
$in2 = $cents($bank2);
$total = $in1 + $in2;

/** @var array<string, array{to_account: string, amount: string}> $transfers id => row */
$transfers = $bank1->query('SELECT id, to_account, amount FROM transfer')->fetchAll(PDO::FETCH_UNIQUE | PDO::FETCH_ASSOC);
$times = [];
$unknown = $wrong = 0;
foreach ($bank2->query('SELECT transfer_id, to_account, amount FROM credit') as $credit) {
    $id = $credit['transfer_id'];
    $times[$id] = ($times[$id] ?? 0) + 1;
    if (!isset($transfers[$id])) {
        $unknown++;
    } elseif ($transfers[$id]['to_account'] !== $credit['to_account'] || $transfers[$id]['amount'] !== $credit['amount']) {
        $wrong++;
    }
}
$missing = count(array_diff_key($transfers, $times));
$twice = count(array_filter($times, fn (int $n): bool => $n > 1));
$claims = $bank2->prepare('SELECT COUNT(*) FROM dq_inbox WHERE consumer = ?');
$claims->execute([Credit::CONSUMER]);
$claims = (int) $claims->fetchColumn();
[$rows, $unsent] = $bank1->query('SELECT COUNT(*), COUNT(*) - COUNT(sent_at) FROM dq_outbox')->fetch(PDO::FETCH_NUM);

$checks = [
    'money conserved' => $total === $initial,
    'every transfer credited once' => $missing === 0 && $twice === 0 && $unknown === 0 && $wrong === 0,
    'one claim per credit' => $claims === count($times) && $claims === count($transfers),
    'every outbox row relayed' => (int) $rows === count($transfers) && (int) $unsent === 0,
];
printf("outbox: %d rows, %d unsent; inbox: %d claims\n", $rows, $unsent, $claims);
printf("credited: %d of %d transfers; twice: %d, never: %d, unknown: %d, wrong payee or amount: %d\n",
    count($times) - $unknown, count($transfers), $twice, $missing, $unknown, $wrong);
printf("bank1: %s\nbank2: %s\ntotal: %s (before: %s)\n", $money($in1), $money($in2), $money($total), $money($initial));
foreach ($checks as $what => $ok) {
    if (!$ok) {
        echo "FAILED: $what\n";
    }
}
$ok = !in_array(false, $checks, true);
echo 'conserved: ', $ok ? 'yes' : 'NO', "\n";
exit($ok ? 0 : 1);
