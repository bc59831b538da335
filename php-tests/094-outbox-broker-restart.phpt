--TEST--
Outbox relay across a RabbitMQ restart (a private node) while rows are written: the relay backs off while the broker is away (/healthz says so), then publishes every committed row; nothing lost, copies only around the restart, with the row's message_id
--EXTENSIONS--
dq
pdo_mysql
posix
mbstring
sockets
--SKIPIF--
<?php
if (!is_executable('/usr/sbin/rabbitmq-server') || !is_executable('/usr/sbin/rabbitmqctl')) die('skip rabbitmq-server not installed');
if (function_exists('posix_geteuid') && posix_geteuid() !== 0) die('skip needs root to start a private RabbitMQ node (the Debian wrappers su to rabbitmq)');
?>
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$rabbit = new TestRabbit();
$dbs = new TestDatabases(['app']);
$prefix = dq_test_prefix('outbox-broker');
$gateway = dq_outbox_gateway($dbs, $prefix, $rabbit->url(), ['batch' => 50]);
(new Dq\Producer(['amqp' => $rabbit->url()]))->declareQueue('relayed', ['durable' => true]);
$pdo = $dbs->pdo('app');

$committed = [];
$restarted = false;
$sawBackingOff = false;
$started = microtime(true);
$n = 0;
while (true) {
    $pdo->beginTransaction();
    $id = Dq\Outbox::publish($pdo, '', 'relayed', "body $n", ['persistent' => true]);
    $pdo->commit();
    $committed[$id] = 'body ' . $n++;
    if (!$restarted && microtime(true) - $started > 1.0) {
        $rabbit->restartInBackground(1.5);
        $restarted = true;
    }
    if ($restarted && !$sawBackingOff && $n % 20 === 0) {
        [, $health] = $gateway->request('GET', '/healthz');
        $sawBackingOff = ($health['outbox']['app']['relay'] ?? '') === 'backing_off';
    }
    if ($restarted && !$rabbit->restarting()) {
        break;
    }
    usleep(2000);
}
// Written for a second more after the broker is back.
$until = microtime(true) + 1.0;
while (microtime(true) < $until) {
    $pdo->beginTransaction();
    $id = Dq\Outbox::publish($pdo, '', 'relayed', "body $n", ['persistent' => true]);
    $pdo->commit();
    $committed[$id] = 'body ' . $n++;
    usleep(2000);
}
echo "rows committed: ", count($committed) > 300 ? 'over 300' : count($committed), "\n";
echo "/healthz showed the relay backing off: ", var_export($sawBackingOff, true), "\n";
$unsent = fn () => (int) $pdo->query('SELECT COUNT(*) FROM dq_outbox WHERE sent_at IS NULL')->fetchColumn();
var_dump(dq_eventually(fn () => $unsent() === 0, 30));
[, $health] = $gateway->request('GET', '/healthz');
echo "relay now: ", $health['outbox']['app']['relay'], "\n";

require_once '/usr/share/php/PhpAmqpLib/autoload.php';
$connection = new PhpAmqpLib\Connection\AMQPStreamConnection('127.0.0.1', $rabbit->port, 'guest', 'guest');
$channel = $connection->channel();
$seen = [];
$wrongBody = 0;
while ($message = $channel->basic_get('relayed', true)) {
    $id = $message->get('message_id');
    $seen[$id] = ($seen[$id] ?? 0) + 1;
    $wrongBody += ($committed[$id] ?? null) === $message->getBody() ? 0 : 1;
}
echo "lost: ", count(array_diff_key($committed, $seen)), "\n";
echo "published but never committed: ", count(array_diff_key($seen, $committed)), "\n";
echo "bodies not their row's: $wrongBody\n";
echo "copies at most two batches: ", var_export(array_sum($seen) - count($seen) <= 100, true), "\n";
$channel->close();
$connection->close();
$gateway->stop();
?>
--EXPECT--
rows committed: over 300
/healthz showed the relay backing off: true
bool(true)
relay now: running
lost: 0
published but never committed: 0
bodies not their row's: 0
copies at most two batches: true
