--TEST--
DqFfi\Xa does what Dq\Xa does (php-tests/080, 081, 082): commit and rollback across three databases, run() (return value, rethrow), a failing statement, types and bytes round trip, use after commit, destruction without commit, a forked child, bad input with dq.so's classes, codes and messages, recovery after a killed committer; PDO as the other side; dq.so runs the same code and prints the same
--EXTENSIONS--
ffi
pdo_mysql
pcntl
posix
--SKIPIF--
<?php require __DIR__ . '/inc.php'; dq_ffi_skipif(); ?>
--FILE--
<?php
require __DIR__ . '/inc.php';
$code = <<<'PHP'
    $dbs = dq_bank();
    $databases = dq_bank_databases($dbs);
    $options = ['log' => $dbs->url('log')];
    $money = fn (string $user) => $dbs->pdo('finance')->query("SELECT money FROM t_user_account WHERE username = '$user'")->fetchColumn();
    $orders = fn () => (int) $dbs->pdo('order')->query('SELECT COUNT(*) FROM t_user_orders')->fetchColumn();
    $clean = fn (string $message) => preg_replace(['/dq[0-9a-f]{36}/', '/dqt_[0-9a-f]{8}/', '/:\d{4,5}\//'], ['ID', 'dqt_X', ':PORT/'], $message);
    $attempt = function (string $what, callable $fn) use ($clean): void {
        try {
            $fn();
            echo "$what: no error\n";
        } catch (Throwable $e) {
            echo "$what: ", get_class($e), ' ', $e->getCode(), ' ', $clean($e->getMessage()), "\n";
        }
    };

    echo "-- commit: the order, the debit and the audit row together\n";
    $xa = new $Xa($databases, $options);
    var_dump((bool) preg_match('/^dq[0-9a-f]{36}$/', $xa->id()));
    var_dump($xa->execute('order', 'INSERT INTO t_user_orders (username, money) VALUES (?, ?)', ['alice', 100]));
    var_dump($xa->execute('finance', 'UPDATE t_user_account SET money = money - ? WHERE username = ? AND money >= ?', [100, 'alice', 100]));
    $xa->execute('audit', 'INSERT INTO t_audit (what) VALUES (?)', ['alice paid 100']);
    var_dump($xa->query('finance', 'SELECT username, money FROM t_user_account WHERE username = ?', ['alice']));
    $xa->commit();
    echo 'alice: ', $money('alice'), ', orders: ', $orders(), ', prepared: ', count($dbs->prepared()), "\n";
    echo 'decision logged: ', $dbs->pdo('log')->query("SELECT decision FROM dq_xa WHERE id = '{$xa->id()}'")->fetchColumn(), "\n";

    echo "-- rollback\n";
    $xa = new $Xa($databases, $options);
    $xa->execute('order', 'INSERT INTO t_user_orders (username, money) VALUES (?, ?)', ['bob', 100]);
    var_dump($xa->execute('finance', 'UPDATE t_user_account SET money = money - ? WHERE username = ? AND money >= ?', [100, 'bob', 100]));
    $xa->rollback();
    $xa->rollback();
    echo 'bob: ', $money('bob'), ', orders: ', $orders(), "\n";

    echo "-- used after commit or rollback\n";
    $attempt('execute', fn () => $xa->execute('order', 'SELECT 1'));
    $attempt('commit', fn () => $xa->commit());
    $committed = new $Xa($databases, $options);
    $committed->commit();
    $attempt('rollback after commit', fn () => $committed->rollback());

    echo "-- run(): commits and returns the closure's value\n";
    $id = $Xa::run($databases, function ($xa) {
        $xa->execute('order', 'INSERT INTO t_user_orders (username, money) VALUES (?, ?)', ['alice', 5]);
        $xa->execute('finance', 'UPDATE t_user_account SET money = money - 5 WHERE username = ?', ['alice']);
        return $xa->id();
    }, $options);
    echo 'returned an id: ', var_export(is_string($id), true), ', alice: ', $money('alice'), ', orders: ', $orders(), "\n";
    echo 'run() after the closure rolled back itself: ', var_export($Xa::run($databases, fn ($xa) => $xa->rollback() ?? 'fine', $options), true), "\n";

    echo "-- run(): rolls back and rethrows the closure's exception\n";
    try {
        $Xa::run($databases, function ($xa) {
            $xa->execute('order', 'INSERT INTO t_user_orders (username, money) VALUES (?, ?)', ['alice', 7]);
            $xa->execute('finance', 'UPDATE t_user_account SET money = money - 7 WHERE username = ?', ['alice']);
            throw new DomainException('insufficient funds', 42);
        }, $options);
    } catch (DomainException $e) {
        echo get_class($e), ' ', $e->getCode(), ' ', $e->getMessage(), "\n";
    }
    echo 'alice: ', $money('alice'), ', orders: ', $orders(), ', prepared: ', count($dbs->prepared()), "\n";

    echo "-- a failing statement: Dq\\XaException naming the database and the server's error\n";
    $xa = new $Xa($databases, $options);
    $xa->execute('finance', 'UPDATE t_user_account SET money = money + 1 WHERE username = ?', ['bob']);
    try {
        $xa->execute('finance', "INSERT INTO t_user_account VALUES ('bob', 1)");
    } catch (Dq\XaException $e) {
        echo get_class($e), ' ', $e->getCode(), ' ', $clean($e->getMessage()), "\n";
        var_dump($e instanceof Dq\Exception);
    }
    $xa->commit();
    echo 'the transaction went on: bob ', $money('bob'), "\n";

    echo "-- types\n";
    $dbs->pdo('audit')->exec('CREATE TABLE typed (i BIGINT, u BIGINT UNSIGNED, f DOUBLE, d DECIMAL(10,3), s VARCHAR(50), b VARBINARY(8), n INT NULL, t TINYINT, dt DATETIME, j JSON)');
    $xa = new $Xa($databases, $options);
    $evil = "Robert'); DROP TABLE t_audit; --";
    $xa->execute('audit', 'INSERT INTO typed VALUES (?, 18446744073709551615, ?, ?, ?, ?, ?, ?, ?, ?)',
        [PHP_INT_MAX, 0.5, '1234.5', $evil, "\x00\xff\xfe", null, true, '2026-12-06 10:00:00', '{"a": [1, 2]}']);
    $xa->execute('audit', 'INSERT INTO typed (i, f, s, b) VALUES (?, ?, ?, ?)', [PHP_INT_MIN, -2.0, "caf\xc3\xa9 \u{1F600}", 'text']);
    $rows = $xa->query('audit', 'SELECT * FROM typed WHERE s = ?', [$evil]);
    echo 'b: ', bin2hex($rows[0]['b']), "\n";
    unset($rows[0]['b']);
    var_dump($rows);
    var_dump($xa->query('audit', 'SELECT i, f, s, b FROM typed WHERE i < 0'));
    $selected = $xa->query('audit', 'SELECT ? AS bytes, ? AS nothing, ? AS yes', ["\xff\x00", null, false]);
    $selected[0]['bytes'] = bin2hex($selected[0]['bytes']);
    var_dump($selected);
    var_dump($xa->query('audit', 'SELECT 1 FROM typed WHERE 0'));
    $xa->commit();
    echo 'bytes stored: ', bin2hex($dbs->pdo('audit')->query('SELECT b FROM typed WHERE i > 0')->fetchColumn()), "\n";

    echo "-- destroyed without commit: rolled back\n";
    (function () use ($databases, $options, $Xa) {
        $xa = new $Xa($databases, $options);
        $xa->execute('finance', "UPDATE t_user_account SET money = 0 WHERE username = 'alice'");
    })();
    echo 'alice: ', $money('alice'), ', prepared: ', count($dbs->prepared()), "\n";

    echo "-- a forked child uses connections of its own\n";
    $xa = new $Xa($databases, $options);
    $xa->execute('audit', 'INSERT INTO t_audit (what) VALUES (?)', ['parent']);
    echo dq_in_child(function () use ($databases, $options, $Xa) {
        while (ob_get_level() > 0) { // the parent's output (dq_ffi_run buffers it) is not the child's to print
            ob_end_clean();
        }
        $Xa::run($databases, fn ($xa) => $xa->execute('audit', 'INSERT INTO t_audit (what) VALUES (?)', ['child']), $options);
        yield 'committed' => true;
    });
    $xa->commit();
    echo implode(',', $dbs->pdo('audit')->query('SELECT what FROM t_audit WHERE what IN (\'parent\', \'child\') ORDER BY what')->fetchAll(PDO::FETCH_COLUMN)), "\n";
    echo 'prepared: ', count($dbs->prepared()), "\n";

    echo "-- bad input (081)\n";
    $bad = new TestDatabases(['a', 'log']);
    $bad->pdo('a')->exec('CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))');
    $logged = ['log' => $bad->url('log')];
    $attempt('no databases', fn () => new $Xa([]));
    $attempt('a list', fn () => new $Xa(['mysql://root@127.0.0.1/x']));
    $attempt('bad name', fn () => new $Xa(['or der' => $bad->url('a')]));
    $attempt('not a URL', fn () => new $Xa(['a' => 'localhost']));
    $attempt('no database in URL', fn () => new $Xa(['a' => 'mysql://root:secret@127.0.0.1:3306']));
    $attempt('other scheme', fn () => new $Xa(['a' => 'pgsql://root:secret@127.0.0.1/a']));
    $attempt('URL not a string', fn () => new $Xa(['a' => 3306]));
    $attempt('URL an array', fn () => new $Xa(['a' => ['mysql://root@127.0.0.1/x']]));
    $attempt('unknown option', fn () => new $Xa(['a' => $bad->url('a')], ['logs' => 'x']));
    $attempt('bad log URL', fn () => new $Xa(['a' => $bad->url('a')], ['log' => 'mysql://h']));
    $attempt('log not a string', fn () => new $Xa(['a' => $bad->url('a')], ['log' => false]));
    $attempt('bad timeout', fn () => new $Xa(['a' => $bad->url('a')], ['timeout' => -1]));
    $attempt('timeout "x"', fn () => new $Xa(['a' => $bad->url('a')], ['timeout' => 'x']));
    $attempt('timeout INF', fn () => new $Xa(['a' => $bad->url('a')], ['timeout' => INF]));
    $attempt('bad name before an unknown option', fn () => new $Xa(['or der' => $bad->url('a')], ['logs' => 'x']));
    $attempt('bad log before an unknown option', fn () => new $Xa(['a' => $bad->url('a')], ['log' => 'x', 'logs' => 'x']));
    $attempt('run() with bad options', fn () => $Xa::run(['a' => $bad->url('a')], fn () => 1, ['timeout' => 0]));

    $xa = new $Xa(['a' => $bad->url('a')], $logged);
    $attempt('unknown database', fn () => $xa->execute('b', 'SELECT 1'));
    $attempt('a URL as database', fn () => $xa->execute('mysql://root@127.0.0.1/x', 'SELECT 1'));
    $attempt('too few parameters', fn () => $xa->execute('a', 'INSERT INTO t VALUES (?, ?)', [1]));
    $attempt('too many parameters', fn () => $xa->execute('a', 'SELECT 1', [1]));
    $attempt('named parameters', fn () => $xa->execute('a', 'SELECT ?', ['x' => 1]));
    $attempt('keys out of order', fn () => $xa->execute('a', 'SELECT ?, ?', [1 => 'b', 0 => 'a']));
    $attempt('array parameter', fn () => $xa->execute('a', 'SELECT ?', [[1]]));
    $attempt('object parameter', fn () => $xa->execute('a', 'SELECT ?', [new stdClass()]));
    $attempt('second parameter an array', fn () => $xa->query('a', 'SELECT ?, ?', [1, ['x' => 1]]));
    $attempt('invalid UTF-8 SQL', fn () => $xa->execute('a', "SELECT 'caf\xe9'"));
    $attempt('invalid UTF-8 SQL and an array parameter', fn () => $xa->execute('a', "SELECT 'caf\xe9', ?", [[1]]));
    $attempt('invalid UTF-8 database', fn () => $xa->execute("\xff", 'SELECT 1'));
    $attempt('empty SQL', fn () => $xa->execute('a', ' '));
    $attempt('oversized parameter', fn () => $xa->execute('a', 'SELECT ?', [str_repeat('x', 16 * 1024 * 1024 + 1)]));
    $attempt('SQL error', fn () => $xa->execute('a', 'SELEKT 1'));
    $attempt('DDL inside XA', fn () => $xa->execute('a', 'CREATE TABLE u (id INT)'));
    echo "-- still usable\n";
    var_dump($xa->execute('a', 'INSERT INTO t VALUES (?, ?)', [1, "caf\xc3\xa9"]));
    $xa->commit();
    var_dump($bad->pdo('a')->query('SELECT v FROM t')->fetchColumn());

    echo "-- a server that is not there: ConnectionException within the timeout\n";
    $port = dq_closed_port();
    $xa = new $Xa(['gone' => "mysql://root@127.0.0.1:$port/x"], ['log' => $bad->url('log'), 'timeout' => 1.0]);
    [$unused, $took] = dq_timed(fn () => $attempt('gone', fn () => $xa->execute('gone', 'SELECT 1')));
    var_dump($took < 2.0);
    echo "-- a decision log that is not there: the commit of two branches rolls back\n";
    $bad2 = new TestDatabases(['b']);
    $xa = new $Xa(['a' => $bad->url('a'), 'b' => $bad2->url('b')], ['log' => "mysql://root@127.0.0.1:$port/dq", 'timeout' => 1.0]);
    $xa->execute('a', 'INSERT INTO t VALUES (2, ?)', ['no log']);
    $xa->execute('b', 'SELECT 1');
    $attempt('no log', fn () => $xa->commit());
    var_dump($bad->pdo('a')->query('SELECT COUNT(*) FROM t WHERE id = 2')->fetchColumn());

    echo "-- recover() (082)\n";
    $attempt('older_than "x"', fn () => $Xa::recover($databases, $options + ['older_than' => 'x']));
    $attempt('older_than -1', fn () => $Xa::recover($databases, $options + ['older_than' => -1]));
    $attempt('older_than NAN before no databases', fn () => $Xa::recover([], ['older_than' => NAN]));
    $attempt('unknown option', fn () => $Xa::recover($databases, ['older' => 1]));
    // As 082: the log apart (reached as localhost), so the decision is an INSERT of its own.
    $apart = ['log' => str_replace('127.0.0.1', 'localhost', $dbs->url('log'))];
    $lock = $dbs->pdo('log');
    $lock->exec('LOCK TABLES dq_xa WRITE');
    $pid = pcntl_fork();
    if ($pid === 0) {
        while (ob_get_level() > 0) {
            ob_end_clean();
        }
        $xa = new $Xa($databases, $apart + ['timeout' => 30]);
        $xa->execute('order', 'INSERT INTO t_user_orders (username, money) VALUES (?, ?)', ['alice', 100]);
        $xa->execute('finance', 'UPDATE t_user_account SET money = money - ? WHERE username = ?', [100, 'alice']);
        $xa->commit();
        exit(0);
    }
    for ($i = 0; $i < 200 && count($dbs->prepared('log', 'localhost')) < 2; $i++) {
        usleep(20000);
    }
    posix_kill($pid, SIGKILL);
    pcntl_waitpid($pid, $status);
    echo 'killed: ', var_export(pcntl_wifsignaled($status), true), ', prepared branches: ', count($dbs->prepared('log', 'localhost')), "\n";
    foreach ($dbs->pdo()->query('SHOW PROCESSLIST')->fetchAll(PDO::FETCH_ASSOC) as $row) {
        if ($row['db'] === $dbs->name('log') && str_starts_with((string) $row['Info'], 'INSERT INTO dq_xa')) {
            $dbs->pdo()->exec("KILL {$row['Id']}");
        }
    }
    $lock->exec('UNLOCK TABLES');
    $show = function (array $resolved): void {
        usort($resolved, fn ($a, $b) => strcmp($a['database'], $b['database']));
        foreach ($resolved as $r) {
            echo "  {$r['database']}: {$r['action']} decision=", var_export($r['decision'], true), ' error=', var_export($r['error'], true),
                ' age is a float: ', var_export(is_float($r['age']), true), "\n";
        }
    };
    $show($Xa::recover($databases, $apart));
    $done = $Xa::recover($databases, $apart + ['older_than' => 0]);
    $show($done);
    echo 'entry keys: ', implode(',', array_keys($done[0])), "\n";
    echo 'alice: ', $money('alice'), ', prepared: ', count($dbs->prepared('log', 'localhost')), ', nothing left: ', count($Xa::recover($databases, $apart + ['older_than' => 0])), "\n";
    PHP;
dq_ffi_show_same(dq_ffi_and_ext($code));

echo "-- the FFI client only: NAN and INF cannot cross into libdq.so\n";
$dbs = new TestDatabases(['a', 'log']);
$xa = new DqFfi\Xa(['a' => $dbs->url('a')], ['log' => $dbs->url('log')]);
try {
    $xa->execute('a', 'SELECT ?', [NAN]);
} catch (Dq\InvalidArgumentException $e) {
    echo get_class($e), ' ', $e->getCode(), ' ', $e->getMessage(), "\n";
}
var_dump($xa->query('a', 'SELECT ? AS x', [1.5]));
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
rollback after commit: Dq\XaException 12 XA transaction ID was already committed: start a new one
-- run(): commits and returns the closure's value
returned an id: true, alice: 395.00, orders: 2
run() after the closure rolled back itself: 'fine'
-- run(): rolls back and rethrows the closure's exception
DomainException 42 insufficient funds
alice: 395.00, orders: 2, prepared: 0
-- a failing statement: Dq\XaException naming the database and the server's error
Dq\XaException 12 XA transaction ID: the statement on "finance" failed: MySQL mysql://root@127.0.0.1:PORT/dqt_X_finance answered: ERROR 1062 (23000): Duplicate entry 'bob' for key 'PRIMARY'
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
array(1) {
  [0]=>
  array(4) {
    ["i"]=>
    int(-9223372036854775808)
    ["f"]=>
    float(-2)
    ["s"]=>
    string(10) "café 😀"
    ["b"]=>
    string(4) "text"
  }
}
array(1) {
  [0]=>
  array(3) {
    ["bytes"]=>
    string(4) "ff00"
    ["nothing"]=>
    NULL
    ["yes"]=>
    int(0)
  }
}
array(0) {
}
bytes stored: 00fffe
-- destroyed without commit: rolled back
alice: 395.00, prepared: 0
-- a forked child uses connections of its own
  child committed: true
  child exit 0
child,parent
prepared: 0
-- bad input (081)
no databases: Dq\InvalidArgumentException 2 databases is empty: expected ['name' => 'mysql://user:pass@host:port/database', ...]
a list: Dq\InvalidArgumentException 2 databases[0]: expected a name as the key ('order' => 'mysql://...')
bad name: Dq\InvalidArgumentException 2 database name "or der" is invalid: expected 1 to 64 of A-Z a-z 0-9 _ . -
not a URL: Dq\InvalidArgumentException 2 database "a": "localhost" is not a MySQL URL (relative URL without a base): expected mysql://user:password@host:port/database
no database in URL: Dq\InvalidArgumentException 2 database "a": "mysql://root:***@127.0.0.1:3306" is not a MySQL URL (no database after the host): expected mysql://user:password@host:port/database
other scheme: Dq\InvalidArgumentException 2 database "a": "pgsql://root:***@127.0.0.1/a" is not a MySQL URL (scheme "pgsql" is not mysql): expected mysql://user:password@host:port/database
URL not a string: Dq\InvalidArgumentException 2 databases['a'] 3306 is an int: expected a mysql:// URL
URL an array: Dq\InvalidArgumentException 2 databases['a'] is an array: expected a mysql:// URL
unknown option: Dq\InvalidArgumentException 2 unknown option "logs" (options: log, timeout; recover() also takes older_than)
bad log URL: Dq\InvalidArgumentException 2 options['log']: "mysql://h" is not a MySQL URL (no database after the host): expected mysql://user:password@host:port/database
log not a string: Dq\InvalidArgumentException 2 options['log'] false is a bool: expected a mysql:// URL
bad timeout: Dq\InvalidArgumentException 2 options['timeout']: timeout -1 is invalid: expected seconds above 0 and at most 3600
timeout "x": Dq\InvalidArgumentException 2 options['timeout'] "x" is a string: expected seconds
timeout INF: Dq\InvalidArgumentException 2 options['timeout']: timeout inf is invalid: expected seconds above 0 and at most 3600
bad name before an unknown option: Dq\InvalidArgumentException 2 database name "or der" is invalid: expected 1 to 64 of A-Z a-z 0-9 _ . -
bad log before an unknown option: Dq\InvalidArgumentException 2 options['log']: "x" is not a MySQL URL (relative URL without a base): expected mysql://user:password@host:port/database
run() with bad options: Dq\InvalidArgumentException 2 options['timeout']: timeout 0 is invalid: expected seconds above 0 and at most 3600
unknown database: Dq\InvalidArgumentException 2 unknown database "b": the databases of this transaction are "a"
a URL as database: Dq\InvalidArgumentException 2 unknown database "mysql://root@127.0.0.1/x": the databases of this transaction are "a"
too few parameters: Dq\InvalidArgumentException 2 the statement has 2 placeholder(s) (?) but 1 parameter(s) were given
too many parameters: Dq\InvalidArgumentException 2 the statement has 0 placeholder(s) (?) but 1 parameter(s) were given
named parameters: Dq\InvalidArgumentException 2 params[x]: params must be a list bound to the ? placeholders in order (keys 0, 1, 2, ...)
keys out of order: Dq\InvalidArgumentException 2 params[1]: params must be a list bound to the ? placeholders in order (keys 0, 1, 2, ...)
array parameter: Dq\InvalidArgumentException 2 params[0] is an array: expected int, float, string, bool or null
object parameter: Dq\InvalidArgumentException 2 params[0] is an object of class stdClass: expected int, float, string, bool or null
second parameter an array: Dq\InvalidArgumentException 2 params[1] is an array: expected int, float, string, bool or null
invalid UTF-8 SQL: Dq\InvalidArgumentException 2 sql is not valid UTF-8 (at byte 11): send binary data as a parameter
invalid UTF-8 SQL and an array parameter: Dq\InvalidArgumentException 2 sql is not valid UTF-8 (at byte 11): send binary data as a parameter
invalid UTF-8 database: Dq\InvalidArgumentException 2 database is not valid UTF-8 (at byte 0): send binary data as a parameter
empty SQL: Dq\InvalidArgumentException 2 sql is empty
oversized parameter: Dq\InvalidArgumentException 9 parameter 1 is 16777217 bytes, over the limit of 16777216 (max_allowed_packet)
SQL error: Dq\XaException 12 XA transaction ID: the statement on "a" failed: MySQL mysql://root@127.0.0.1:PORT/dqt_X_a answered: ERROR 1064 (42000): You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use near 'SELEKT 1' at line 1
DDL inside XA: Dq\XaException 12 XA transaction ID: the statement on "a" failed: MySQL mysql://root@127.0.0.1:PORT/dqt_X_a answered: ERROR 1399 (XAE07): XAER_RMFAIL: The command cannot be executed when global transaction is in the  ACTIVE state
-- still usable
int(1)
string(5) "café"
-- a server that is not there: ConnectionException within the timeout
gone: Dq\ConnectionException 4 XA transaction ID: cannot start the branch on "gone": cannot connect: MySQL mysql://root@127.0.0.1:PORT/x: the connection failed: Connection refused (os error 111)
bool(true)
-- a decision log that is not there: the commit of two branches rolls back
no log: Dq\XaException 12 XA transaction ID rolled back: the decision log cannot be used: cannot prepare dq's tables: MySQL mysql://root@127.0.0.1:PORT/dq: the connection failed: Connection refused (os error 111)
int(0)
-- recover() (082)
older_than "x": Dq\InvalidArgumentException 2 options['older_than'] "x" is a string: expected seconds
older_than -1: Dq\InvalidArgumentException 2 options['older_than']: older_than "-1" is invalid: expected seconds from 0 to 2592000 (30 days)
older_than NAN before no databases: Dq\InvalidArgumentException 2 options['older_than']: older_than "NaN" is invalid: expected seconds from 0 to 2592000 (30 days)
unknown option: Dq\InvalidArgumentException 2 unknown option "older" (options: log, timeout; recover() also takes older_than)
killed: true, prepared branches: 2
  finance: waiting decision=NULL error=NULL age is a float: true
  order: waiting decision=NULL error=NULL age is a float: true
  finance: rolled_back decision='rollback' error=NULL age is a float: true
  order: rolled_back decision='rollback' error=NULL age is a float: true
entry keys: id,database,server,decision,action,age,error
alice: 395.00, prepared: 0, nothing left: 0
== the extension printed the same
-- the FFI client only: NAN and INF cannot cross into libdq.so
Dq\InvalidArgumentException 2 params[0] NaN is a float: expected a finite number (libdq.so takes parameters as JSON, which has no NAN or INF)
array(1) {
  [0]=>
  array(1) {
    ["x"]=>
    float(1.5)
  }
}
