--TEST--
DqFfi\Outbox and DqFfi\Inbox do what Dq\Outbox and Dq\Inbox do, through the caller's PDO on the real MariaDB: the schema, publish and add rows (binary bodies, generated message ids, JSON bodies' content type, due times) that exist only once the transaction commits, claims, bad input with dq.so's classes, codes and messages, a missing table in each error mode; dq.so runs the same code and writes and prints the same
--EXTENSIONS--
ffi
pdo_mysql
pdo_sqlite
--SKIPIF--
<?php require __DIR__ . '/inc.php'; dq_ffi_skipif(); ?>
--FILE--
<?php
require __DIR__ . '/inc.php';
$code = <<<'PHP'
    $dbs = new TestDatabases(['app', 'bare', 'odd']);
    $pdo = $dbs->pdo('app');
    $other = $dbs->pdo('app'); // another connection: sees what committed
    $clean = fn (string $text) => preg_replace('/dqt_[0-9a-f]{8}/', 'dqt_X', $text);
    $attempt = function (string $what, callable $fn) use ($clean): void {
        try {
            $result = $fn();
            echo "$what: ", var_export($result, true), "\n";
        } catch (Throwable $e) {
            echo "$what: ", get_class($e), ' ', $e->getCode(), ' ', $clean($e->getMessage()), "\n";
        }
    };
    $count = fn () => (int) $other->query('SELECT COUNT(*) FROM dq_outbox')->fetchColumn();
    $uuid = fn (string $id) => (bool) preg_match('/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/', $id);
    // The row of a message id, a generated one (what publish returned) shown as ID.
    $row = function (string $id) use ($other, $uuid): array {
        $row = $other->query('SELECT kind, target, routing_key, message_id, body, properties, due_at_ms, sent_at, attempts FROM dq_outbox WHERE message_id = ' . $other->quote($id))->fetch(PDO::FETCH_ASSOC);
        $row['body'] = preg_match('//u', $row['body']) ? $row['body'] : 'hex ' . bin2hex($row['body']);
        if ($uuid($id)) {
            $row['message_id'] = str_replace($id, 'ID', $row['message_id']);
            $row['properties'] = str_replace("\"message_id\":\"$id\"", '"message_id":"ID"', $row['properties']);
        }
        return $row;
    };

    echo "-- schema(): the SQL of dq-gateway migrate, run through PDO\n";
    $schema = $Outbox::schema();
    echo strlen($schema), ' bytes, md5 ', md5($schema), "\n";
    $pdo->exec($schema);
    $pdo->exec($schema); // idempotent
    echo 'tables: ', implode(', ', $other->query('SHOW TABLES')->fetchAll(PDO::FETCH_COLUMN)), "\n";

    echo "-- publish in a transaction: no row until it commits\n";
    $pdo->beginTransaction();
    $binary = "\xff\x00bin\xfe\x80";
    $id = $Outbox::publish($pdo, 'corp.transfers', 'credit', $binary, ['type' => 'credit', 'headers' => ['a' => 1, 'b' => 'two'], 'mandatory' => true, 'priority' => 5]);
    echo 'generated id is a UUID: ', var_export($uuid($id), true), "\n";
    $given = $Outbox::publish($pdo, 'orders', 'order.paid', ['order' => 42, 'name' => "Zoë/\u{4e2d}", 'amount' => 99.0], ['message_id' => 'order-42-paid']);
    $typed = $Outbox::publish($pdo, 'orders', '', ['a' => [1, 2]], ['content_type' => 'application/vnd.order+json', 'expiration' => 60000]);
    $plain = $Outbox::publish($pdo, 'orders', 'x', '');
    echo 'ids: ', var_export([$given, $uuid($typed), $uuid($plain), $id !== $typed], true), "\n";
    echo 'rows seen by another connection before commit: ', $count(), "\n";
    $pdo->commit();
    echo 'after commit: ', $count(), "\n";
    var_dump($row($id), $row($given), $row($typed), $row($plain));
    $stored = $other->query('SELECT body FROM dq_outbox WHERE message_id = ' . $other->quote($id))->fetchColumn();
    echo 'binary body byte for byte: ', var_export($stored === $binary, true), "\n";

    echo "-- rollBack: no row\n";
    $pdo->beginTransaction();
    $gone = $Outbox::publish($pdo, 'orders', 'order.paid', 'never', ['message_id' => 'rolled-back']);
    $Outbox::add($pdo, 'order.timeout', ['id' => 'rolled-back-too', 'delay' => 5]);
    $pdo->rollBack();
    echo "returned $gone; rows: ", $count(), "\n";

    echo "-- add: a delay counts from now, a fix_time string is read in PHP's time zone\n";
    $before = microtime(true);
    $added = $Outbox::add($pdo, 'order.timeout', ['id' => 'order-7', 'body' => ['order' => 7, 'list' => []], 'delay' => 30]);
    $after = microtime(true);
    $r = $row($added);
    $due = (int) $r['due_at_ms'];
    echo "returned $added; due in 30 s: ", var_export($due >= (int) floor($before * 1000) + 30000 && $due <= (int) ceil($after * 1000) + 30000, true), "\n";
    unset($r['due_at_ms']);
    var_dump($r);
    date_default_timezone_set('Asia/Shanghai');
    $at = time() + 3600;
    $Outbox::add($pdo, 'order.timeout', ['id' => 8, 'fix_time' => date('Y-m-d H:i:s', $at)]);
    date_default_timezone_set('UTC');
    echo 'fix_time in Asia/Shanghai: ', var_export((int) $row('8')['due_at_ms'] === $at * 1000, true), "\n";
    $Outbox::add($pdo, 'order.timeout', ['id' => 'unix', 'fix_time' => $at, 'body' => 'text']);
    echo 'fix_time as a unix time: ', var_export((int) $row('unix')['due_at_ms'] === $at * 1000, true), ', body ', $row('unix')['body'], "\n";
    echo 'no delay: the topic\'s default, due_at_ms ', var_export($row($Outbox::add($pdo, 'order.timeout', ['id' => 'default']))['due_at_ms'], true), "\n";
    echo 'rows: ', $count(), "\n";

    echo "-- Inbox::claim in a transaction\n";
    $pdo->beginTransaction();
    var_dump($Inbox::claim($pdo, 'billing', $id), $Inbox::claim($pdo, 'billing', $id), $Inbox::claim($pdo, 'shipping', $id), $Inbox::claim($pdo, 'billing', 42));
    $pdo->commit();
    var_dump($Inbox::claim($pdo, 'billing', $id), $Inbox::claim($pdo, 'billing', '42'));
    $pdo->beginTransaction();
    var_dump($Inbox::claim($pdo, 'billing', 'once'));
    $pdo->rollBack();
    var_dump($Inbox::claim($pdo, 'billing', 'once'));
    echo 'claims: ', $other->query('SELECT COUNT(*) FROM dq_inbox')->fetchColumn(), "\n";

    echo "-- bad input: dq.so's classes, codes and messages, nothing written\n";
    $sqlite = new PDO('sqlite::memory:');
    $attempt('sqlite', fn () => $Outbox::publish($sqlite, 'orders', 'x', 'b'));
    $attempt('sqlite claim', fn () => $Inbox::claim($sqlite, 'billing', 'm'));
    $attempt('a DSN string', fn () => $Outbox::publish('mysql:host=127.0.0.1', 'orders', 'x', 'b'));
    $attempt('null', fn () => $Outbox::add(null, 'order.timeout', ['id' => 'x']));
    $attempt('an object', fn () => $Inbox::claim(new stdClass(), 'billing', 'm'));
    $attempt('priority 900', fn () => $Outbox::publish($pdo, 'orders', 'x', 'b', ['priority' => 900]));
    try {
        (new $Producer())->publish('orders', 'x', 'b', ['priority' => 900]);
    } catch (Dq\Exception $e) {
        echo 'Producer::publish: ', get_class($e), ' ', $e->getCode(), ' ', $e->getMessage(), "\n";
    }
    $attempt('unknown property', fn () => $Outbox::publish($pdo, 'orders', 'x', 'b', ['delivery_mod' => 2]));
    $attempt('properties as a list', fn () => $Outbox::publish($pdo, 'orders', 'x', 'b', ['persistent']));
    $attempt('int body', fn () => $Outbox::publish($pdo, 'orders', 'x', 5));
    $attempt('long exchange', fn () => $Outbox::publish($pdo, str_repeat('e', 256), 'x', 'b'));
    $attempt('unknown data field', fn () => $Outbox::add($pdo, 'order.timeout', ['id' => 'x', 'dealy' => 5]));
    $attempt('no id', fn () => $Outbox::add($pdo, 'order.timeout', ['body' => 1]));
    $attempt('delay and fix_time', fn () => $Outbox::add($pdo, 'order.timeout', ['id' => 'x', 'delay' => 1, 'fix_time' => 5]));
    $attempt('bad topic', fn () => $Outbox::add($pdo, 'bad topic', ['id' => 'x']));
    $attempt('unencodable body', fn () => $Outbox::add($pdo, 'order.timeout', ['id' => 'x', 'body' => ['a' => NAN]]));
    $attempt('message id array', fn () => $Inbox::claim($pdo, 'billing', ['m']));
    $attempt('empty consumer', fn () => $Inbox::claim($pdo, '', 'm'));
    $attempt('long message id', fn () => $Inbox::claim($pdo, 'billing', str_repeat('m', 256)));
    echo 'rows: ', $count(), ', claims: ', $other->query('SELECT COUNT(*) FROM dq_inbox')->fetchColumn(), "\n";

    echo "-- a database without the tables, in each error mode\n";
    $bare = $dbs->pdo('bare');
    foreach (['EXCEPTION' => PDO::ERRMODE_EXCEPTION, 'SILENT' => PDO::ERRMODE_SILENT, 'WARNING' => PDO::ERRMODE_WARNING] as $mode => $value) {
        $bare->setAttribute(PDO::ATTR_ERRMODE, $value);
        $attempt("$mode publish", fn () => @$Outbox::publish($bare, 'orders', 'x', 'b'));
        $attempt("$mode add", fn () => @$Outbox::add($bare, 'order.timeout', ['id' => 'x']));
        $attempt("$mode claim", fn () => @$Inbox::claim($bare, 'billing', 'm'));
    }
    $bare->setAttribute(PDO::ATTR_ERRMODE, PDO::ERRMODE_EXCEPTION);
    $bare->beginTransaction();
    $attempt('in a transaction', fn () => $Outbox::publish($bare, 'orders', 'x', 'b'));
    echo 'still in the transaction: ', var_export($bare->inTransaction(), true), "\n";
    $bare->rollBack();

    echo "-- another failure is PDO's own: its exception, else a Dq\\Exception with its error info\n";
    $odd = $dbs->pdo('odd');
    $odd->exec('CREATE TABLE dq_outbox (id INT PRIMARY KEY)');
    $odd->exec('CREATE TABLE dq_inbox (consumer VARBINARY(255) PRIMARY KEY)');
    $attempt('EXCEPTION publish', fn () => $Outbox::publish($odd, 'orders', 'x', 'b'));
    try {
        $Inbox::claim($odd, 'billing', 'm');
    } catch (PDOException $e) {
        echo "EXCEPTION claim: PDO's exception as it threw it: ", get_class($e), ' ', var_export($e->getCode(), true), ' ', json_encode($e->errorInfo), ' ', $e->getMessage(), "\n";
    }
    $odd->setAttribute(PDO::ATTR_ERRMODE, PDO::ERRMODE_SILENT);
    $attempt('SILENT publish', fn () => $Outbox::publish($odd, 'orders', 'x', 'b'));
    $attempt('SILENT claim', fn () => $Inbox::claim($odd, 'billing', 'm'));
    $odd->setAttribute(PDO::ATTR_ERRMODE, PDO::ERRMODE_WARNING);
    $attempt('WARNING add', fn () => @$Outbox::add($odd, 'order.timeout', ['id' => 'x']));
    PHP;
dq_ffi_show_same(dq_ffi_and_ext($code));
?>
--EXPECTF--
-- schema(): the SQL of dq-gateway migrate, run through PDO
%d bytes, md5 %x
tables: dq_inbox, dq_outbox
-- publish in a transaction: no row until it commits
generated id is a UUID: true
ids: array (
  0 => 'order-42-paid',
  1 => true,
  2 => true,
  3 => true,
)
rows seen by another connection before commit: 0
after commit: 4
array(9) {
  ["kind"]=>
  string(7) "publish"
  ["target"]=>
  string(14) "corp.transfers"
  ["routing_key"]=>
  string(6) "credit"
  ["message_id"]=>
  string(2) "ID"
  ["body"]=>
  string(18) "hex ff0062696efe80"
  ["properties"]=>
  string(129) "{"type":"credit","priority":5,"delivery_mode":2,"persistent":true,"headers":{"a":1,"b":"two"},"mandatory":true,"message_id":"ID"}"
  ["due_at_ms"]=>
  NULL
  ["sent_at"]=>
  NULL
  ["attempts"]=>
  int(0)
}
array(9) {
  ["kind"]=>
  string(7) "publish"
  ["target"]=>
  string(6) "orders"
  ["routing_key"]=>
  string(10) "order.paid"
  ["message_id"]=>
  string(13) "order-42-paid"
  ["body"]=>
  string(44) "{"order":42,"name":"Zoë/中","amount":99.0}"
  ["properties"]=>
  string(100) "{"message_id":"order-42-paid","content_type":"application/json","delivery_mode":2,"persistent":true}"
  ["due_at_ms"]=>
  NULL
  ["sent_at"]=>
  NULL
  ["attempts"]=>
  int(0)
}
array(9) {
  ["kind"]=>
  string(7) "publish"
  ["target"]=>
  string(6) "orders"
  ["routing_key"]=>
  string(0) ""
  ["message_id"]=>
  string(2) "ID"
  ["body"]=>
  string(11) "{"a":[1,2]}"
  ["properties"]=>
  string(120) "{"content_type":"application/vnd.order+json","expiration":"60000","delivery_mode":2,"persistent":true,"message_id":"ID"}"
  ["due_at_ms"]=>
  NULL
  ["sent_at"]=>
  NULL
  ["attempts"]=>
  int(0)
}
array(9) {
  ["kind"]=>
  string(7) "publish"
  ["target"]=>
  string(6) "orders"
  ["routing_key"]=>
  string(1) "x"
  ["message_id"]=>
  string(2) "ID"
  ["body"]=>
  string(0) ""
  ["properties"]=>
  string(55) "{"delivery_mode":2,"persistent":true,"message_id":"ID"}"
  ["due_at_ms"]=>
  NULL
  ["sent_at"]=>
  NULL
  ["attempts"]=>
  int(0)
}
binary body byte for byte: true
-- rollBack: no row
returned rolled-back; rows: 4
-- add: a delay counts from now, a fix_time string is read in PHP's time zone
returned order-7; due in 30 s: true
array(8) {
  ["kind"]=>
  string(3) "add"
  ["target"]=>
  string(13) "order.timeout"
  ["routing_key"]=>
  string(0) ""
  ["message_id"]=>
  string(7) "order-7"
  ["body"]=>
  string(21) "{"order":7,"list":[]}"
  ["properties"]=>
  NULL
  ["sent_at"]=>
  NULL
  ["attempts"]=>
  int(0)
}
fix_time in Asia/Shanghai: true
fix_time as a unix time: true, body "text"
no delay: the topic's default, due_at_ms NULL
rows: 8
-- Inbox::claim in a transaction
bool(true)
bool(false)
bool(true)
bool(true)
bool(false)
bool(false)
bool(true)
bool(true)
claims: 4
-- bad input: dq.so's classes, codes and messages, nothing written
sqlite: Dq\InvalidArgumentException 2 pdo is a connection to "sqlite": the outbox and the inbox live in MySQL or MariaDB (a PDO on the mysql driver)
sqlite claim: Dq\InvalidArgumentException 2 pdo is a connection to "sqlite": the outbox and the inbox live in MySQL or MariaDB (a PDO on the mysql driver)
a DSN string: Dq\InvalidArgumentException 2 pdo "mysql:host=127.0.0.1" is a string: expected a PDO connection to MySQL (ThinkPHP: Db::connect()->getPdo(), Laravel: DB::connection()->getPdo())
null: Dq\InvalidArgumentException 2 pdo is null: expected a PDO connection to MySQL (ThinkPHP: Db::connect()->getPdo(), Laravel: DB::connection()->getPdo())
an object: Dq\InvalidArgumentException 2 pdo is an object of class stdClass: expected a PDO connection to MySQL (ThinkPHP: Db::connect()->getPdo(), Laravel: DB::connection()->getPdo())
priority 900: Dq\InvalidArgumentException 2 properties: priority 900 is invalid: expected an integer from 0 to 255
Producer::publish: Dq\InvalidArgumentException 2 properties: priority 900 is invalid: expected an integer from 0 to 255
unknown property: Dq\InvalidArgumentException 2 properties: unknown property "delivery_mod": expected one of message_id, correlation_id, reply_to, content_type, content_encoding, type, app_id, user_id, priority, expiration, timestamp, headers, persistent, delivery_mode, mandatory
properties as a list: Dq\InvalidArgumentException 2 properties must be an array of name => value, not a list
int body: Dq\InvalidArgumentException 2 body 5 is an int: expected a string, or an array to send as JSON
long exchange: Dq\InvalidArgumentException 2 exchange "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"... is 256 bytes: AMQP allows at most 255
unknown data field: Dq\InvalidArgumentException 2 data: unknown field "dealy": did you mean "delay"? (fields: id, body, delay, fix_time)
no id: Dq\InvalidArgumentException 2 data: id is missing: every message needs an "id" (a string of 1 to 128 bytes)
delay and fix_time: Dq\InvalidArgumentException 2 data: delay 1 and fix_time 5 are both given: give one of them
bad topic: Dq\InvalidArgumentException 2 topic "bad topic" is invalid: expected 1 to 128 characters of A-Z a-z 0-9 _ . : -
unencodable body: Dq\InvalidArgumentException 2 data["body"]["a"]: float NaN cannot be encoded as JSON
message id array: Dq\InvalidArgumentException 2 message id is an array: expected a string (the message's message_id property)
empty consumer: Dq\InvalidArgumentException 2 consumer is empty: expected 1 to 255 bytes
long message id: Dq\InvalidArgumentException 2 message id "mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm"... is 256 bytes long: expected at most 255
rows: 8, claims: 4
-- a database without the tables, in each error mode
EXCEPTION publish: Dq\Exception 6 table dq_outbox does not exist (MySQL: SQLSTATE[42S02]: Base table or view not found: 1146 Table 'dqt_X_bare.dq_outbox' doesn't exist): create it with `dq-gateway migrate` (for the databases of [outbox] databases), or run the SQL of Dq\Outbox::schema()
EXCEPTION add: Dq\Exception 6 table dq_outbox does not exist (MySQL: SQLSTATE[42S02]: Base table or view not found: 1146 Table 'dqt_X_bare.dq_outbox' doesn't exist): create it with `dq-gateway migrate` (for the databases of [outbox] databases), or run the SQL of Dq\Outbox::schema()
EXCEPTION claim: Dq\Exception 6 table dq_inbox does not exist (MySQL: SQLSTATE[42S02]: Base table or view not found: 1146 Table 'dqt_X_bare.dq_inbox' doesn't exist): create it with `dq-gateway migrate` (for the databases of [outbox] databases), or run the SQL of Dq\Outbox::schema()
SILENT publish: Dq\Exception 6 table dq_outbox does not exist (MySQL: Table 'dqt_X_bare.dq_outbox' doesn't exist): create it with `dq-gateway migrate` (for the databases of [outbox] databases), or run the SQL of Dq\Outbox::schema()
SILENT add: Dq\Exception 6 table dq_outbox does not exist (MySQL: Table 'dqt_X_bare.dq_outbox' doesn't exist): create it with `dq-gateway migrate` (for the databases of [outbox] databases), or run the SQL of Dq\Outbox::schema()
SILENT claim: Dq\Exception 6 table dq_inbox does not exist (MySQL: Table 'dqt_X_bare.dq_inbox' doesn't exist): create it with `dq-gateway migrate` (for the databases of [outbox] databases), or run the SQL of Dq\Outbox::schema()
WARNING publish: Dq\Exception 6 table dq_outbox does not exist (MySQL: Table 'dqt_X_bare.dq_outbox' doesn't exist): create it with `dq-gateway migrate` (for the databases of [outbox] databases), or run the SQL of Dq\Outbox::schema()
WARNING add: Dq\Exception 6 table dq_outbox does not exist (MySQL: Table 'dqt_X_bare.dq_outbox' doesn't exist): create it with `dq-gateway migrate` (for the databases of [outbox] databases), or run the SQL of Dq\Outbox::schema()
WARNING claim: Dq\Exception 6 table dq_inbox does not exist (MySQL: Table 'dqt_X_bare.dq_inbox' doesn't exist): create it with `dq-gateway migrate` (for the databases of [outbox] databases), or run the SQL of Dq\Outbox::schema()
in a transaction: Dq\Exception 6 table dq_outbox does not exist (MySQL: SQLSTATE[42S02]: Base table or view not found: 1146 Table 'dqt_X_bare.dq_outbox' doesn't exist): create it with `dq-gateway migrate` (for the databases of [outbox] databases), or run the SQL of Dq\Outbox::schema()
still in the transaction: true
-- another failure is PDO's own: its exception, else a Dq\Exception with its error info
EXCEPTION publish: PDOException 42S22 SQLSTATE[42S22]: Column not found: 1054 Unknown column 'kind' in 'INSERT INTO'
EXCEPTION claim: PDO's exception as it threw it: PDOException '42S22' ["42S22",1054,"Unknown column 'message_id' in 'INSERT INTO'"] SQLSTATE[42S22]: Column not found: 1054 Unknown column 'message_id' in 'INSERT INTO'
SILENT publish: Dq\Exception 7 MySQL refused the dq_outbox row: SQLSTATE[42S22] 1054 Unknown column 'kind' in 'INSERT INTO'
SILENT claim: Dq\Exception 7 MySQL refused the dq_inbox row: SQLSTATE[42S22] 1054 Unknown column 'message_id' in 'INSERT INTO'
WARNING add: Dq\Exception 7 MySQL refused the dq_outbox row: SQLSTATE[42S22] 1054 Unknown column 'kind' in 'INSERT INTO'
== the extension printed the same
