--TEST--
examples/xa: every file lints; run.sh creates the databases and pays (twice paid, twice refused); the ThinkPHP controller's service pays and refuses on its own; recover.php runs
--EXTENSIONS--
dq
pdo_mysql
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$root = dq_root();
$files = array_merge(glob("$root/examples/xa/*.php"), glob("$root/examples/xa/app/*/*.php"));
$bad = [];
foreach ($files as $file) {
    exec(PHP_BINARY . ' -n -l ' . escapeshellarg($file) . ' 2>&1', $out, $status);
    if ($status !== 0) {
        $bad[] = implode("\n", $out);
    }
    $out = [];
}
printf("lint: %s (%d files)\n", $bad ? "FAILED\n" . implode("\n", $bad) : 'ok', count($files));

// run.sh makes <prefix>order and <prefix>finance: the prefix of test databases of our own.
$dbs = new TestDatabases(['order', 'finance', 'log']);
$dbs->pdo()->exec('DROP DATABASE `' . $dbs->name('order') . '`');
$dbs->pdo()->exec('DROP DATABASE `' . $dbs->name('finance') . '`');
$env = 'DQ_XA_PREFIX=' . escapeshellarg($dbs->prefix . '_') . ' DQ_XA_LOG=' . escapeshellarg($dbs->url('log'));
echo shell_exec("$env bash " . escapeshellarg("$root/examples/xa/run.sh") . ' 2>&1');

// The ThinkPHP side without ThinkPHP: its service class, as the controller calls it.
require "$root/examples/xa/app/service/InsufficientFunds.php";
require "$root/examples/xa/app/service/OrderPayment.php";
$payment = new app\service\OrderPayment(['order' => $dbs->url('order'), 'finance' => $dbs->url('finance')], ['log' => $dbs->url('log')]);
var_dump($payment->pay('alice', '50.00'), $payment->pay("alice' OR '1'='1", '1.00'));
echo 'prepared: ', count($dbs->prepared()), "\n";
$php = PHP_BINARY . ' -n -d extension=' . escapeshellarg("$root/build/dq.so") . ' -d dq.mysql=' . escapeshellarg($dbs->url('log'));
$env = 'DQ_XA_ORDER=' . escapeshellarg($dbs->url('order')) . ' DQ_XA_FINANCE=' . escapeshellarg($dbs->url('finance'));
echo 'recover.php: [', trim((string) shell_exec("$env $php " . escapeshellarg("$root/examples/xa/recover.php"))), "]\n";
?>
--EXPECTF--
lint: ok (5 files)
alice paid 100.00: order 1, balance 150.00
alice paid 100.00: order 2, balance 50.00
alice refused: alice cannot pay 100.00
bob refused: bob cannot pay 30.00
orders:
+----------+--------+
| username | money  |
+----------+--------+
| alice    | 100.00 |
| alice    | 100.00 |
+----------+--------+
accounts:
+----------+-------+
| username | money |
+----------+-------+
| alice    | 50.00 |
| bob      | 20.00 |
+----------+-------+
array(3) {
  ["state"]=>
  string(4) "paid"
  ["order_id"]=>
  int(3)
  ["balance"]=>
  string(4) "0.00"
}
array(2) {
  ["state"]=>
  string(7) "refused"
  ["detail"]=>
  string(32) "alice' OR '1'='1 cannot pay 1.00"
}
prepared: 0
recover.php: []
