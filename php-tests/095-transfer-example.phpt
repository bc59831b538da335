--TEST--
examples/transfer: every file lints; run.sh relays and credits (one refused, one retried with its id: debited once); the services refuse a bad amount and credit a transfer id once; worker.php dead-letters a message that is not a credit and stops on SIGTERM; soak.sh (200 transfers, the gateway and a worker SIGKILLed twice each, copies published on purpose) conserves the money and cleans up
--EXTENSIONS--
dq
pdo_mysql
pcntl
posix
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$root = dq_root();
$dir = "$root/examples/transfer";
$files = array_merge(glob("$dir/*.php"), glob("$dir/app/*/*.php"));
$bad = [];
foreach ($files as $file) {
    exec(PHP_BINARY . ' -n -l ' . escapeshellarg($file) . ' 2>&1', $out, $status);
    if ($status !== 0) {
        $bad[] = implode("\n", $out);
    }
    $out = [];
}
foreach (glob("$dir/*.sh") as $script) {
    exec('bash -n ' . escapeshellarg($script) . ' 2>&1', $out, $status);
    if ($status !== 0) {
        $bad[] = implode("\n", $out);
    }
    $out = [];
}
printf("lint: %s (%d php files, %d scripts)\n", $bad ? "FAILED\n" . implode("\n", $bad) : 'ok', count($files), count(glob("$dir/*.sh")));

// run.sh makes <prefix>bank1 and <prefix>bank2 (TestDatabases drops them at the end), in a
// vhost and a gateway prefix of our own.
$dbs = new TestDatabases(['bank1', 'bank2']);
$vhost = new TestVhost('transfer');
$prefix = dq_test_prefix('transfer');
$env = ['DQ_TRANSFER_PREFIX' => $dbs->prefix . '_', 'DQ_TRANSFER_AMQP' => $vhost->url(), 'DQ_PREFIX' => $prefix];
$assign = fn (array $env): string => implode(' ', array_map(fn ($k, $v) => $k . '=' . escapeshellarg($v), array_keys($env), $env));
[$said, $elapsed] = dq_timed(fn () => shell_exec($assign($env) . ' bash ' . escapeshellarg("$dir/run.sh") . ' 2>&1'));
echo str_replace($dbs->prefix . '_', '<prefix>', $said);
echo 'run.sh within 40 s: ', var_export($elapsed < 40, true), "\n";

echo "-- the services on their own\n";
require_once "$dir/bootstrap.php";
$transfer = new app\service\Transfer($dbs->pdo('bank1'));
try {
    $transfer->send('alice', 'frank', '1.234');
} catch (InvalidArgumentException $e) {
    dq_show($e);
}
var_dump($transfer->send('nobody', 'frank', '1.00')['state']);
$credit = new app\service\Credit($dbs->pdo('bank2'));
var_dump($credit->apply('00000000-0000-4000-8000-000000000099', 'zoe', '7.00'), $credit->apply('00000000-0000-4000-8000-000000000099', 'zoe', '7.00'));
echo 'zoe: ', $dbs->pdo('bank2')->query("SELECT balance FROM account WHERE id = 'zoe'")->fetchColumn(), "\n";

echo "-- worker.php: a message that is not a credit, then SIGTERM\n";
$workerEnv = ['DQ_TRANSFER_AMQP' => $vhost->url(), 'DQ_TRANSFER_BANK2' => $dbs->url('bank2'), 'PATH' => getenv('PATH') ?: '/usr/bin:/bin'];
$log = tempnam(sys_get_temp_dir(), 'dq-transfer-worker-');
$worker = proc_open(dq_php_command(["$dir/worker.php"], [], ['pcntl', 'posix', 'mysqlnd', 'pdo', 'pdo_mysql']), [['file', '/dev/null', 'r'], ['file', $log, 'w'], ['file', $log, 'a']], $pipes, null, $workerEnv);
var_dump(dq_eventually(fn () => dq_consumed_queues($vhost) === ['transfer.credit'], 15));
(new Dq\Producer(['amqp' => $vhost->url()]))->publish('transfers', 'transfer.credit', 'not json', ['message_id' => 'junk-1']);
var_dump(dq_eventually(fn () => (dq_list_queues($vhost)['transfer.credit.failed']['messages'] ?? '') === '1', 10));
proc_terminate($worker, 15);
var_dump(dq_eventually(fn () => !proc_get_status($worker)['running'], 10));
echo preg_replace('/^\[\d+\] /m', '  ', (string) file_get_contents($log));
proc_close($worker);
unlink($log);

echo "-- soak.sh\n";
$name = $dbs->prefix . '_soak';
$soak = ['DQ_SOAK_NAME' => $name, 'DQ_SOAK_TRANSFERS' => '200', 'DQ_SOAK_SECONDS' => '5', 'DQ_SOAK_KILLS' => '2', 'DQ_SOAK_TIMEOUT' => '90'];
exec($assign($soak) . ' bash ' . escapeshellarg("$dir/soak.sh") . ' 2>&1', $lines, $status);
echo implode("\n", $lines), "\nsoak.sh: exit $status\n";
$left = $dbs->pdo()->query("SHOW DATABASES LIKE '{$name}%'")->fetchAll(PDO::FETCH_COLUMN);
echo 'left behind: ', json_encode([$left, str_contains(dq_rabbitmqctl(['list_vhosts']), $name)]), "\n";
dq_cleanup_prefix($prefix);
?>
--EXPECTF--
lint: ok (15 php files, 2 scripts)
databases.bank1 (mysql://root@127.0.0.1:3306/<prefix>bank1): applied dq_outbox_inbox
databases.bank2 (mysql://root@127.0.0.1:3306/<prefix>bank2): applied dq_outbox_inbox
declared: exchange transfers, queues transfer.credit and transfer.credit.failed
alice -> frank 100.00: sent (transfer %x-%x-4%x-%x-%x), alice has 900.00 left
alice -> grace 250.50: sent (transfer %x-%x-4%x-%x-%x), alice has 649.50 left
bob -> frank 30.00: refused (bob cannot pay 30.00)
alice -> frank 5.00: sent (transfer 00000000-0000-4000-8000-000000000042), alice has 644.50 left
alice -> frank 5.00: sent before (transfer 00000000-0000-4000-8000-000000000042): nothing debited
bank1:
+-------+---------+
| id    | balance |
+-------+---------+
| alice |  644.50 |
| bob   |   20.00 |
+-------+---------+
bank2:
+-------+---------+
| id    | balance |
+-------+---------+
| frank |  105.00 |
| grace |  250.50 |
+-------+---------+
sent by the relay: 3, credited: 3
the worker said:
  consuming transfer.credit
  credited %x-%x-4%x-%x-%x frank 100.00
  credited %x-%x-4%x-%x-%x grace 250.50
  credited 00000000-0000-4000-8000-000000000042 frank 5.00
  stopped after 3 messages
run.sh within 40 s: true
-- the services on their own
InvalidArgumentException(0): amount 1.234: expected a positive decimal with at most 2 decimals
string(7) "refused"
bool(true)
bool(false)
zoe: 7.00
-- worker.php: a message that is not a credit, then SIGTERM
bool(true)
bool(true)
bool(true)
  consuming transfer.credit
  rejected: message junk-1: the body is not JSON: Syntax error
  stopped after 1 messages
-- soak.sh
soak %s_soak: 200 transfers by 2 clients over 5 s; 2 SIGKILLs of the gateway and 2 of the 2 workers; 10 copies
transfers: %d sent, %d refused (insufficient funds), 0 failed, in %d s; copies published: 10
kills: gateway 2, workers 2; ended on their own: 0
drained: yes, %d s after the last transfer
queues: transfer.credit 0, transfer.credit.failed 0; copies skipped by the inbox: %d (published on purpose: 10), rejected: 0
outbox: %d rows, 0 unsent; inbox: %d claims
credited: %d of %d transfers; twice: 0, never: 0, unknown: 0, wrong payee or amount: 0
bank1: %f
bank2: %f
total: 100040.00 (before: 100040.00)
conserved: yes
soak.sh: exit 0
left behind: [[],false]
