--TEST--
Dq\Xa::recover() with the decision log apart (another login than the branches': the decision is an INSERT of its own): a PHP process killed (SIGKILL) while its commit waits on the decision log leaves prepared branches; recover() leaves them while they are young, rolls them back once older_than allows, and a live committer whose log answers late still commits
--EXTENSIONS--
dq
pdo_mysql
pcntl
posix
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$dbs = dq_bank();
$databases = dq_bank_databases($dbs);
// The log reached as localhost, the branches as 127.0.0.1: the decision is written apart.
$options = ['log' => str_replace('127.0.0.1', 'localhost', $dbs->url('log'))];
$alice = fn () => $dbs->pdo('finance')->query("SELECT money FROM t_user_account WHERE username = 'alice'")->fetchColumn();
$pay = function (Dq\Xa $xa) {
    $xa->execute('order', 'INSERT INTO t_user_orders (username, money) VALUES (?, ?)', ['alice', 100]);
    $xa->execute('finance', 'UPDATE t_user_account SET money = money - ? WHERE username = ?', [100, 'alice']);
};
// The log's table exists once a two-branch transaction committed.
Dq\Xa::run($databases, fn (Dq\Xa $xa) => $xa->query('order', 'SELECT 1') && $xa->query('finance', 'SELECT 1'), $options);

/** Locks dq_xa (the decision log) so that a commit waits after preparing every branch. */
function lock_log(TestDatabases $dbs): PDO
{
    $lock = $dbs->pdo('log');
    $lock->exec('LOCK TABLES dq_xa WRITE');
    return $lock;
}
function wait_prepared(TestDatabases $dbs, int $n): void
{
    for ($i = 0; $i < 200 && count($dbs->prepared('log', 'localhost')) < $n; $i++) {
        usleep(20000);
    }
}

/** Forks a child that pays and commits, waits until its branches are prepared, kills it. */
function kill_committer(TestDatabases $dbs): void
{
    $pid = pcntl_fork();
    if ($pid === 0) {
        $xa = new Dq\Xa($GLOBALS['databases'], $GLOBALS['options'] + ['timeout' => 30]);
        ($GLOBALS['pay'])($xa);
        $xa->commit();
        exit(0);
    }
    wait_prepared($dbs, 2);
    posix_kill($pid, SIGKILL);
    pcntl_waitpid($pid, $status);
    echo 'killed: ', var_export(pcntl_wifsignaled($status), true), ', prepared branches: ', count($dbs->prepared('log', 'localhost')), "\n";
}
function show(array $resolved): void
{
    usort($resolved, fn ($a, $b) => strcmp($a['database'], $b['database']));
    foreach ($resolved as $r) {
        echo "  {$r['database']}: {$r['action']} decision=", var_export($r['decision'], true), ' error=', var_export($r['error'], true), "\n";
    }
}

echo "-- killed after sending its decision: the decision lands, recovery commits\n";
$lock = lock_log($dbs);
kill_committer($dbs);
$lock->exec('UNLOCK TABLES');
show(Dq\Xa::recover($databases, $options));
echo 'alice: ', $alice(), ', orders: ', $dbs->pdo('order')->query('SELECT COUNT(*) FROM t_user_orders')->fetchColumn(), ', prepared: ', count($dbs->prepared('log', 'localhost')), "\n";

echo "-- killed before its decision was written: recovery waits while it is young, then rolls back\n";
$lock = lock_log($dbs);
kill_committer($dbs);
// The dead process's INSERT still waits for the lock: end it as the server would have, had the
// process died a moment earlier.
foreach ($dbs->pdo()->query('SHOW PROCESSLIST')->fetchAll(PDO::FETCH_ASSOC) as $row) {
    if ($row['db'] === $dbs->name('log') && str_starts_with((string) $row['Info'], 'INSERT INTO dq_xa')) {
        $dbs->pdo()->exec("KILL {$row['Id']}");
    }
}
$lock->exec('UNLOCK TABLES');
show(Dq\Xa::recover($databases, $options));
echo "the rows are locked by the prepared branches; a reader without locks sees alice ", $alice(), "\n";
$done = Dq\Xa::recover($databases, $options + ['older_than' => 0]);
show($done);
echo 'entry keys: ', implode(',', array_keys($done[0])), "\n";
echo 'alice: ', $alice(), ', orders: ', $dbs->pdo('order')->query('SELECT COUNT(*) FROM t_user_orders')->fetchColumn(), ', prepared: ', count($dbs->prepared('log', 'localhost')), "\n";
echo 'decision logged by recovery: ', $dbs->pdo('log')->query("SELECT decision FROM dq_xa WHERE decided_by LIKE 'recovery%'")->fetchColumn(), "\n";

echo "-- a live committer whose log answers late commits\n";
$lock = lock_log($dbs);
$pid = pcntl_fork();
if ($pid === 0) {
    usleep(500000);
    $lock->exec('UNLOCK TABLES');
    exit(0);
}
$xa = new Dq\Xa($databases, $options + ['timeout' => 10]);
$pay($xa);
[$unused, $took] = dq_timed(fn () => $xa->commit());
pcntl_waitpid($pid, $status);
echo 'waited for the log: ', var_export($took > 0.3, true), ', alice: ', $alice(), ', prepared: ', count($dbs->prepared('log', 'localhost')), "\n";
echo 'nothing left to recover: ', count(Dq\Xa::recover($databases, $options + ['older_than' => 0])), "\n";
?>
--EXPECT--
-- killed after sending its decision: the decision lands, recovery commits
killed: true, prepared branches: 2
  finance: committed decision='commit' error=NULL
  order: committed decision='commit' error=NULL
alice: 400.00, orders: 1, prepared: 0
-- killed before its decision was written: recovery waits while it is young, then rolls back
killed: true, prepared branches: 2
  finance: waiting decision=NULL error=NULL
  order: waiting decision=NULL error=NULL
the rows are locked by the prepared branches; a reader without locks sees alice 400.00
  finance: rolled_back decision='rollback' error=NULL
  order: rolled_back decision='rollback' error=NULL
entry keys: id,database,server,decision,action,age,error
alice: 400.00, orders: 1, prepared: 0
decision logged by recovery: rollback
-- a live committer whose log answers late commits
waited for the log: true, alice: 300.00, prepared: 0
nothing left to recover: 0
