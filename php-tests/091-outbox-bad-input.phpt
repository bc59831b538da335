--TEST--
Dq\Outbox and Dq\Inbox refuse bad input clearly and write nothing: not a PDO, a PDO on another driver, a missing table (naming dq-gateway migrate, whatever PDO's error mode), bodies, properties and names refused with the same message as Dq\Producer::publish, add data with the same message as Dq\Client::add; other database errors stay PDO's
--EXTENSIONS--
dq
pdo_mysql
pdo_sqlite
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$dbs = new TestDatabases(['app', 'bare']);
$pdo = $dbs->pdo('app');
foreach (array_filter(array_map('trim', preg_split('/;\s*$/m', preg_replace('/^--.*$/m', '', Dq\Outbox::schema())))) as $ddl) {
    $pdo->exec($ddl);
}
$try = function (callable $call): string {
    try {
        $call();
        return 'no exception';
    } catch (Throwable $e) {
        return get_class($e) . ' ' . $e->getCode() . ': ' . $e->getMessage();
    }
};

echo "-- the connection\n";
echo $try(fn () => Dq\Outbox::publish('pdo', '', 'q', 'x')), "\n";
echo $try(fn () => Dq\Outbox::publish(new stdClass(), '', 'q', 'x')), "\n";
echo $try(fn () => Dq\Outbox::add(new PDO('sqlite::memory:'), 't', ['id' => '1'])), "\n";
echo $try(fn () => Dq\Inbox::claim(new PDO('sqlite::memory:'), 'svc', 'm')), "\n";

echo "-- a missing table, in each error mode\n";
$bare = $dbs->pdo('bare');
foreach ([PDO::ERRMODE_EXCEPTION, PDO::ERRMODE_SILENT, PDO::ERRMODE_WARNING] as $mode) {
    $bare->setAttribute(PDO::ATTR_ERRMODE, $mode);
    echo $try(fn () => @Dq\Outbox::publish($bare, '', 'q', 'x')), "\n";
    echo $try(fn () => @Dq\Inbox::claim($bare, 'svc', 'm-1')), "\n";
}
$bare->setAttribute(PDO::ATTR_EMULATE_PREPARES, false);
echo "native prepares: ", $try(fn () => @Dq\Outbox::publish($bare, '', 'q', 'x')), "\n";

echo "-- publish: the same refusals as Dq\\Producer::publish\n";
$producer = new Dq\Producer();
$cases = [
    'a float body' => ['', 'q', 1.5, []],
    'a null body' => ['', 'q', null, []],
    'priority 300' => ['', 'q', 'x', ['priority' => 300]],
    'an unknown property' => ['', 'q', 'x', ['messageId' => 'm']],
    'headers as a string' => ['', 'q', 'x', ['headers' => 'x']],
    'expiration in words' => ['', 'q', 'x', ['expiration' => 'soon']],
    'a long reply_to' => ['', 'q', 'x', ['reply_to' => str_repeat('r', 300)]],
    'a long exchange' => [str_repeat('e', 256), 'q', 'x', []],
    'a long routing key' => ['', str_repeat('k', 256), 'x', []],
    'a body that is not JSON-able' => ['', 'q', ['f' => fopen('php://memory', 'r')], []],
];
foreach ($cases as $what => [$exchange, $key, $body, $properties]) {
    $outbox = $try(fn () => Dq\Outbox::publish($pdo, $exchange, $key, $body, $properties));
    $direct = $try(fn () => $producer->publish($exchange, $key, $body, $properties));
    echo "$what: ", $outbox === $direct ? 'same' : "DIFFERENT\n  outbox: $outbox\n  direct: $direct", "\n";
    echo "  $outbox\n";
}

echo "-- add: the same refusals as Dq\\Client::add\n";
$client = new Dq\Client();
$cases = [
    'no id' => ['t', ['body' => 1]],
    'a typo' => ['t', ['id' => 'a', 'bdy' => 1]],
    'delay and fix_time' => ['t', ['id' => 'a', 'delay' => 1, 'fix_time' => time()]],
    'a negative delay' => ['t', ['id' => 'a', 'delay' => -1]],
    'a bad fix_time' => ['t', ['id' => 'a', 'fix_time' => 'tomorrow']],
    'a long id' => ['t', ['id' => str_repeat('i', 200)]],
    'a bad topic' => ['bad topic', ['id' => 'a']],
];
foreach ($cases as $what => [$topic, $data]) {
    $outbox = $try(fn () => Dq\Outbox::add($pdo, $topic, $data));
    $direct = $try(fn () => $client->add($topic, $data));
    echo "$what: ", $outbox === $direct ? 'same' : "DIFFERENT\n  outbox: $outbox\n  direct: $direct", "\n";
    echo "  $outbox\n";
}

echo "-- claim\n";
echo $try(fn () => Dq\Inbox::claim($pdo, '', 'm')), "\n";
echo $try(fn () => Dq\Inbox::claim($pdo, 'svc', str_repeat('m', 256))), "\n";
echo $try(fn () => Dq\Inbox::claim($pdo, 'svc', null)), "\n";
echo $try(fn () => Dq\Inbox::claim($pdo, 'svc', ['m'])), "\n";
var_dump(Dq\Inbox::claim($pdo, 'svc', 42), Dq\Inbox::claim($pdo, 'svc', '42'));

echo "-- nothing was written by a refused call\n";
echo $pdo->query('SELECT COUNT(*) FROM dq_outbox')->fetchColumn(), " outbox rows\n";

echo "-- other database errors stay PDO's\n";
$pdo->exec('SET SESSION TRANSACTION READ ONLY');
$pdo->beginTransaction();
echo $try(fn () => Dq\Outbox::publish($pdo, '', 'q', 'x')), "\n";
$pdo->rollBack();
$pdo->setAttribute(PDO::ATTR_ERRMODE, PDO::ERRMODE_SILENT);
$pdo->beginTransaction();
echo $try(fn () => Dq\Outbox::publish($pdo, '', 'q', 'x')), "\n";
$pdo->rollBack();
?>
--EXPECTF--
-- the connection
Dq\InvalidArgumentException 2: pdo "pdo" is a string: expected a PDO connection to MySQL (ThinkPHP: Db::connect()->getPdo(), Laravel: DB::connection()->getPdo())
Dq\InvalidArgumentException 2: pdo is an object of class stdClass: expected a PDO connection to MySQL (ThinkPHP: Db::connect()->getPdo(), Laravel: DB::connection()->getPdo())
Dq\InvalidArgumentException 2: pdo is a connection to "sqlite": the outbox and the inbox live in MySQL or MariaDB (a PDO on the mysql driver)
Dq\InvalidArgumentException 2: pdo is a connection to "sqlite": the outbox and the inbox live in MySQL or MariaDB (a PDO on the mysql driver)
-- a missing table, in each error mode
Dq\Exception 6: table dq_outbox does not exist (MySQL: SQLSTATE[42S02]: Base table or view not found: 1146 Table 'dqt_%x_bare.dq_outbox' doesn't exist): create it with `dq-gateway migrate` (for the databases of [outbox] databases), or run the SQL of Dq\Outbox::schema()
Dq\Exception 6: table dq_inbox does not exist (MySQL: SQLSTATE[42S02]: Base table or view not found: 1146 Table 'dqt_%x_bare.dq_inbox' doesn't exist): create it with `dq-gateway migrate` (for the databases of [outbox] databases), or run the SQL of Dq\Outbox::schema()
Dq\Exception 6: table dq_outbox does not exist (MySQL: Table 'dqt_%x_bare.dq_outbox' doesn't exist): create it with `dq-gateway migrate` (for the databases of [outbox] databases), or run the SQL of Dq\Outbox::schema()
Dq\Exception 6: table dq_inbox does not exist (MySQL: Table 'dqt_%x_bare.dq_inbox' doesn't exist): create it with `dq-gateway migrate` (for the databases of [outbox] databases), or run the SQL of Dq\Outbox::schema()
Dq\Exception 6: table dq_outbox does not exist (MySQL: Table 'dqt_%x_bare.dq_outbox' doesn't exist): create it with `dq-gateway migrate` (for the databases of [outbox] databases), or run the SQL of Dq\Outbox::schema()
Dq\Exception 6: table dq_inbox does not exist (MySQL: Table 'dqt_%x_bare.dq_inbox' doesn't exist): create it with `dq-gateway migrate` (for the databases of [outbox] databases), or run the SQL of Dq\Outbox::schema()
native prepares: Dq\Exception 6: table dq_outbox does not exist (MySQL: Table 'dqt_%x_bare.dq_outbox' doesn't exist): create it with `dq-gateway migrate` (for the databases of [outbox] databases), or run the SQL of Dq\Outbox::schema()
-- publish: the same refusals as Dq\Producer::publish
a float body: same
  Dq\InvalidArgumentException 2: body 1.5 is a float: expected a string, or an array to send as JSON
a null body: same
  Dq\InvalidArgumentException 2: body is null: expected a string, or an array to send as JSON
priority 300: same
  Dq\InvalidArgumentException 2: properties: priority 300 is invalid: expected an integer from 0 to 255
an unknown property: same
  Dq\InvalidArgumentException 2: properties: unknown property "messageId": expected one of message_id, correlation_id, reply_to, content_type, content_encoding, type, app_id, user_id, priority, expiration, timestamp, headers, persistent, delivery_mode, mandatory
headers as a string: same
  Dq\InvalidArgumentException 2: properties: headers is a string: expected an array of name => value
expiration in words: same
  Dq\InvalidArgumentException 2: properties: expiration "soon" is invalid: expected milliseconds, e.g. "60000"
a long reply_to: same
  Dq\InvalidArgumentException 2: properties: reply_to "rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr"... is 300 bytes: AMQP allows at most 255
a long exchange: same
  Dq\InvalidArgumentException 2: exchange "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"... is 256 bytes: AMQP allows at most 255
a long routing key: same
  Dq\InvalidArgumentException 2: routing key "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"... is 256 bytes: AMQP allows at most 255
a body that is not JSON-able: same
  Dq\InvalidArgumentException 2: body["f"]: a value of type Resource cannot be encoded as JSON
-- add: the same refusals as Dq\Client::add
no id: same
  Dq\InvalidArgumentException 2: data: id is missing: every message needs an "id" (a string of 1 to 128 bytes)
a typo: same
  Dq\InvalidArgumentException 2: data: unknown field "bdy": did you mean "body"? (fields: id, body, delay, fix_time)
delay and fix_time: same
  Dq\InvalidArgumentException 2: data: delay 1 and fix_time %d are both given: give one of them
a negative delay: same
  Dq\InvalidArgumentException 2: data: delay -1 is out of range: expected seconds from 0 to 31622400 (366 days)
a bad fix_time: same
  Dq\InvalidArgumentException 2: data: fix_time "tomorrow" is not a valid 'Y-m-d H:i:s' time (input contains invalid characters): expected e.g. "2026-01-31 23:59:00"
a long id: same
  Dq\InvalidArgumentException 2: data: id "iiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiii"... is 200 bytes long: expected at most 128
a bad topic: same
  Dq\InvalidArgumentException 2: topic "bad topic" is invalid: expected 1 to 128 characters of A-Z a-z 0-9 _ . : -
-- claim
Dq\InvalidArgumentException 2: consumer is empty: expected 1 to 255 bytes
Dq\InvalidArgumentException 2: message id "mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm"... is 256 bytes long: expected at most 255
Dq\InvalidArgumentException 2: message id is null: expected a string (the message's message_id property)
Dq\InvalidArgumentException 2: message id is an array: expected a string (the message's message_id property)
bool(true)
bool(false)
-- nothing was written by a refused call
0 outbox rows
-- other database errors stay PDO's
PDOException 25006: SQLSTATE[25006]: Read only sql transaction: 1792 Cannot execute statement in a READ ONLY transaction
Dq\Exception 7: MySQL refused the dq_outbox row: SQLSTATE[25006] 1792 Cannot execute statement in a READ ONLY transaction
