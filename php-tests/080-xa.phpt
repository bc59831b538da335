--TEST--
Dq\Xa: commit and rollback across three databases, run() (return value, rethrow), a failing statement, types round trip, an injection attempt stored literally, use after commit, destruction without commit, a forked child; PDO as the other side
--EXTENSIONS--
dq
pdo_mysql
pcntl
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$dbs = dq_bank();
$databases = dq_bank_databases($dbs);
$options = ['log' => $dbs->url('log')];
$money = fn (string $user) => $dbs->pdo('finance')->query("SELECT money FROM t_user_account WHERE username = '$user'")->fetchColumn();
$orders = fn () => (int) $dbs->pdo('order')->query('SELECT COUNT(*) FROM t_user_orders')->fetchColumn();

echo "-- commit: the order, the debit and the audit row together\n";
$xa = new Dq\Xa($databases, $options);
var_dump((bool) preg_match('/^dq[0-9a-f]{36}$/', $xa->id()));
var_dump($xa->execute('order', 'INSERT INTO t_user_orders (username, money) VALUES (?, ?)', ['alice', 100]));
var_dump($xa->execute('finance', 'UPDATE t_user_account SET money = money - ? WHERE username = ? AND money >= ?', [100, 'alice', 100]));
$xa->execute('audit', 'INSERT INTO t_audit (what) VALUES (?)', ['alice paid 100']);
var_dump($xa->query('finance', 'SELECT username, money FROM t_user_account WHERE username = ?', ['alice']));
$xa->commit();
echo 'alice: ', $money('alice'), ', orders: ', $orders(), ', prepared: ', count($dbs->prepared()), "\n";
echo 'decision logged: ', $dbs->pdo('log')->query("SELECT decision FROM dq_xa WHERE id = '{$xa->id()}'")->fetchColumn(), "\n";

echo "-- rollback\n";
$xa = new Dq\Xa($databases, $options);
$xa->execute('order', 'INSERT INTO t_user_orders (username, money) VALUES (?, ?)', ['bob', 100]);
var_dump($xa->execute('finance', 'UPDATE t_user_account SET money = money - ? WHERE username = ? AND money >= ?', [100, 'bob', 100]));
$xa->rollback();
$xa->rollback();
echo 'bob: ', $money('bob'), ', orders: ', $orders(), "\n";

echo "-- used after commit or rollback\n";
foreach (['execute' => fn () => $xa->execute('order', 'SELECT 1'), 'commit' => fn () => $xa->commit()] as $what => $call) {
    try {
        $call();
    } catch (Dq\XaException $e) {
        echo "$what: ", get_class($e), ' ', $e->getCode(), ' ', preg_replace('/dq[0-9a-f]{36}/', 'ID', $e->getMessage()), "\n";
    }
}

echo "-- run(): commits and returns the closure's value\n";
$id = Dq\Xa::run($databases, function (Dq\Xa $xa) {
    $xa->execute('order', 'INSERT INTO t_user_orders (username, money) VALUES (?, ?)', ['alice', 5]);
    $xa->execute('finance', 'UPDATE t_user_account SET money = money - 5 WHERE username = ?', ['alice']);
    return $xa->id();
}, $options);
echo 'returned an id: ', var_export(is_string($id), true), ', alice: ', $money('alice'), ', orders: ', $orders(), "\n";

echo "-- run(): rolls back and rethrows the closure's exception\n";
try {
    Dq\Xa::run($databases, function (Dq\Xa $xa) {
        $xa->execute('order', 'INSERT INTO t_user_orders (username, money) VALUES (?, ?)', ['alice', 7]);
        $xa->execute('finance', 'UPDATE t_user_account SET money = money - 7 WHERE username = ?', ['alice']);
        throw new DomainException('insufficient funds', 42);
    }, $options);
} catch (DomainException $e) {
    echo get_class($e), ' ', $e->getCode(), ' ', $e->getMessage(), "\n";
}
echo 'alice: ', $money('alice'), ', orders: ', $orders(), ', prepared: ', count($dbs->prepared()), "\n";

echo "-- a failing statement: Dq\\XaException naming the database and the server's error\n";
$xa = new Dq\Xa($databases, $options);
$xa->execute('finance', 'UPDATE t_user_account SET money = money + 1 WHERE username = ?', ['bob']);
try {
    $xa->execute('finance', "INSERT INTO t_user_account VALUES ('bob', 1)");
} catch (Dq\XaException $e) {
    echo get_class($e), ' ', $e->getCode(), ' ', preg_replace(['/dq[0-9a-f]{36}/', '/dqt_[0-9a-f]{8}/'], ['ID', 'dqt_X'], $e->getMessage()), "\n";
    var_dump($e instanceof Dq\Exception);
}
$xa->commit();
echo 'the transaction went on: bob ', $money('bob'), "\n";

echo "-- types\n";
$dbs->pdo('audit')->exec('CREATE TABLE typed (i BIGINT, u BIGINT UNSIGNED, f DOUBLE, d DECIMAL(10,3), s VARCHAR(50), b VARBINARY(8), n INT NULL, t TINYINT, dt DATETIME, j JSON)');
$xa = new Dq\Xa($databases, $options);
$evil = "Robert'); DROP TABLE t_audit; --";
$xa->execute('audit', 'INSERT INTO typed VALUES (?, 18446744073709551615, ?, ?, ?, ?, ?, ?, ?, ?)',
    [PHP_INT_MAX, 0.5, '1234.5', $evil, "\x00\xff\xfe", null, true, '2026-12-06 10:00:00', '{"a": [1, 2]}']);
$rows = $xa->query('audit', 'SELECT * FROM typed WHERE s = ?', [$evil]);
echo 'b: ', bin2hex($rows[0]['b']), "\n";
unset($rows[0]['b']);
var_dump($rows);
$xa->commit();
var_dump($dbs->pdo('audit')->query('SELECT COUNT(*) FROM t_audit')->fetchColumn() !== false);

echo "-- destroyed without commit: rolled back\n";
(function () use ($databases, $options) {
    $xa = new Dq\Xa($databases, $options);
    $xa->execute('finance', "UPDATE t_user_account SET money = 0 WHERE username = 'alice'");
})();
echo 'alice: ', $money('alice'), ', prepared: ', count($dbs->prepared()), "\n";

echo "-- a forked child uses connections of its own\n";
$xa = new Dq\Xa($databases, $options);
$xa->execute('audit', 'INSERT INTO t_audit (what) VALUES (?)', ['parent']);
echo dq_in_child(function () use ($databases, $options) {
    Dq\Xa::run($databases, fn (Dq\Xa $xa) => $xa->execute('audit', 'INSERT INTO t_audit (what) VALUES (?)', ['child']), $options);
    yield 'committed' => true;
});
$xa->commit();
echo implode(',', $dbs->pdo('audit')->query('SELECT what FROM t_audit WHERE what IN (\'parent\', \'child\') ORDER BY what')->fetchAll(PDO::FETCH_COLUMN)), "\n";
echo 'prepared: ', count($dbs->prepared()), "\n";
?>
--EXPECT--
-- commit: the order, the debit and the audit row together
bool(true)
int(1)
int(1)
array(1) {
  [0]=>
  array(2) {
    ["username"]=>
    string(5) "alice"
    ["money"]=>
    string(6) "400.00"
  }
}
alice: 400.00, orders: 1, prepared: 0
decision logged: commit
-- rollback
int(0)
bob: 50.00, orders: 1
-- used after commit or rollback
execute: Dq\XaException 12 XA transaction ID was already rolled back: start a new one
commit: Dq\XaException 12 XA transaction ID was already rolled back: start a new one
-- run(): commits and returns the closure's value
returned an id: true, alice: 395.00, orders: 2
-- run(): rolls back and rethrows the closure's exception
DomainException 42 insufficient funds
alice: 395.00, orders: 2, prepared: 0
-- a failing statement: Dq\XaException naming the database and the server's error
Dq\XaException 12 XA transaction ID: the statement on "finance" failed: MySQL mysql://root@127.0.0.1:3306/dqt_X_finance answered: ERROR 1062 (23000): Duplicate entry 'bob' for key 'PRIMARY'
bool(true)
the transaction went on: bob 51.00
-- types
b: 00fffe
array(1) {
  [0]=>
  array(9) {
    ["i"]=>
    int(9223372036854775807)
    ["u"]=>
    string(20) "18446744073709551615"
    ["f"]=>
    float(0.5)
    ["d"]=>
    string(8) "1234.500"
    ["s"]=>
    string(32) "Robert'); DROP TABLE t_audit; --"
    ["n"]=>
    NULL
    ["t"]=>
    int(1)
    ["dt"]=>
    string(19) "2026-12-06 10:00:00"
    ["j"]=>
    string(13) "{"a": [1, 2]}"
  }
}
bool(true)
-- destroyed without commit: rolled back
alice: 395.00, prepared: 0
-- a forked child uses connections of its own
  child committed: true
  child exit 0
child,parent
prepared: 0
