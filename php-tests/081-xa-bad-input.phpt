--TEST--
Dq\Xa: bad input is refused with the right class and a message naming the value (databases, URLs, options, unknown names, a server that is not there, parameter counts and types, invalid UTF-8, oversized parameters); the transaction stays usable after refused input
--EXTENSIONS--
dq
pdo_mysql
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$dbs = new TestDatabases(['a', 'log']);
$dbs->pdo('a')->exec('CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))');
$options = ['log' => $dbs->url('log')];
function attempt(string $what, callable $fn): void
{
    try {
        $fn();
        echo "$what: no error\n";
    } catch (Throwable $e) {
        $message = preg_replace(['/dq[0-9a-f]{36}/', '/dqt_[0-9a-f]{8}/', '/:\d{4,5}\//'], ['ID', 'dqt_X', ':PORT/'], $e->getMessage());
        echo "$what: ", get_class($e), ' ', $e->getCode(), ' ', $message, "\n";
    }
}
attempt('no databases', fn () => new Dq\Xa([]));
attempt('a list', fn () => new Dq\Xa(['mysql://root@127.0.0.1/x']));
attempt('bad name', fn () => new Dq\Xa(['or der' => $dbs->url('a')]));
attempt('not a URL', fn () => new Dq\Xa(['a' => 'localhost']));
attempt('no database in URL', fn () => new Dq\Xa(['a' => 'mysql://root:secret@127.0.0.1:3306']));
attempt('other scheme', fn () => new Dq\Xa(['a' => 'pgsql://root:secret@127.0.0.1/a']));
attempt('URL not a string', fn () => new Dq\Xa(['a' => 3306]));
attempt('unknown option', fn () => new Dq\Xa(['a' => $dbs->url('a')], ['logs' => 'x']));
attempt('bad log URL', fn () => new Dq\Xa(['a' => $dbs->url('a')], ['log' => 'mysql://h']));
attempt('bad timeout', fn () => new Dq\Xa(['a' => $dbs->url('a')], ['timeout' => -1]));

$xa = new Dq\Xa(['a' => $dbs->url('a')], $options);
attempt('unknown database', fn () => $xa->execute('b', 'SELECT 1'));
attempt('a URL as database', fn () => $xa->execute('mysql://root@127.0.0.1/x', 'SELECT 1'));
attempt('too few parameters', fn () => $xa->execute('a', 'INSERT INTO t VALUES (?, ?)', [1]));
attempt('too many parameters', fn () => $xa->execute('a', 'SELECT 1', [1]));
attempt('named parameters', fn () => $xa->execute('a', 'SELECT ?', ['x' => 1]));
attempt('array parameter', fn () => $xa->execute('a', 'SELECT ?', [[1]]));
attempt('object parameter', fn () => $xa->execute('a', 'SELECT ?', [new stdClass()]));
attempt('invalid UTF-8 SQL', fn () => $xa->execute('a', "SELECT 'caf\xe9'"));
attempt('empty SQL', fn () => $xa->execute('a', ' '));
attempt('oversized parameter', fn () => $xa->execute('a', 'SELECT ?', [str_repeat('x', 16 * 1024 * 1024 + 1)]));
attempt('SQL error', fn () => $xa->execute('a', 'SELEKT 1'));
attempt('DDL inside XA', fn () => $xa->execute('a', 'CREATE TABLE u (id INT)'));
echo "-- still usable\n";
var_dump($xa->execute('a', 'INSERT INTO t VALUES (?, ?)', [1, "caf\xc3\xa9"]));
$xa->commit();
var_dump($dbs->pdo('a')->query('SELECT v FROM t')->fetchColumn());

echo "-- a server that is not there: ConnectionException within the timeout\n";
$port = dq_closed_port();
$xa = new Dq\Xa(['gone' => "mysql://root@127.0.0.1:$port/x"], ['log' => $dbs->url('log'), 'timeout' => 1.0]);
[$unused, $took] = dq_timed(fn () => attempt('gone', fn () => $xa->execute('gone', 'SELECT 1')));
var_dump($took < 2.0);
echo "-- a decision log that is not there: the commit of two branches rolls back\n";
$dbs2 = new TestDatabases(['b']);
$xa = new Dq\Xa(['a' => $dbs->url('a'), 'b' => $dbs2->url('b')], ['log' => "mysql://root@127.0.0.1:$port/dq", 'timeout' => 1.0]);
$xa->execute('a', 'INSERT INTO t VALUES (2, ?)', ['no log']);
$xa->execute('b', 'SELECT 1');
attempt('no log', fn () => $xa->commit());
var_dump($dbs->pdo('a')->query('SELECT COUNT(*) FROM t WHERE id = 2')->fetchColumn());
?>
--EXPECT--
no databases: Dq\InvalidArgumentException 2 databases is empty: expected ['name' => 'mysql://user:pass@host:port/database', ...]
a list: Dq\InvalidArgumentException 2 databases[0]: expected a name as the key ('order' => 'mysql://...')
bad name: Dq\InvalidArgumentException 2 database name "or der" is invalid: expected 1 to 64 of A-Z a-z 0-9 _ . -
not a URL: Dq\InvalidArgumentException 2 database "a": "localhost" is not a MySQL URL (relative URL without a base): expected mysql://user:password@host:port/database
no database in URL: Dq\InvalidArgumentException 2 database "a": "mysql://root:***@127.0.0.1:3306" is not a MySQL URL (no database after the host): expected mysql://user:password@host:port/database
other scheme: Dq\InvalidArgumentException 2 database "a": "pgsql://root:***@127.0.0.1/a" is not a MySQL URL (scheme "pgsql" is not mysql): expected mysql://user:password@host:port/database
URL not a string: Dq\InvalidArgumentException 2 databases['a'] 3306 is an int: expected a mysql:// URL
unknown option: Dq\InvalidArgumentException 2 unknown option "logs" (options: log, timeout; recover() also takes older_than)
bad log URL: Dq\InvalidArgumentException 2 options['log']: "mysql://h" is not a MySQL URL (no database after the host): expected mysql://user:password@host:port/database
bad timeout: Dq\InvalidArgumentException 2 options['timeout']: timeout -1 is invalid: expected seconds above 0 and at most 3600
unknown database: Dq\InvalidArgumentException 2 unknown database "b": the databases of this transaction are "a"
a URL as database: Dq\InvalidArgumentException 2 unknown database "mysql://root@127.0.0.1/x": the databases of this transaction are "a"
too few parameters: Dq\InvalidArgumentException 2 the statement has 2 placeholder(s) (?) but 1 parameter(s) were given
too many parameters: Dq\InvalidArgumentException 2 the statement has 0 placeholder(s) (?) but 1 parameter(s) were given
named parameters: Dq\InvalidArgumentException 2 params[x]: params must be a list bound to the ? placeholders in order (keys 0, 1, 2, ...)
array parameter: Dq\InvalidArgumentException 2 params[0] is an array: expected int, float, string, bool or null
object parameter: Dq\InvalidArgumentException 2 params[0] is an object of class stdClass: expected int, float, string, bool or null
invalid UTF-8 SQL: Dq\InvalidArgumentException 2 sql is not valid UTF-8 (at byte 11): send binary data as a parameter
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
