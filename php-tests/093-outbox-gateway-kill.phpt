--TEST--
Outbox relay: the gateway SIGKILLed three times while rows are written and relayed: every committed row is published, copies only around the kills and always with the row's message_id and body
--EXTENSIONS--
dq
pdo_mysql
mbstring
sockets
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$dbs = new TestDatabases(['app']);
$vhost = new TestVhost('outbox-kill');
$prefix = dq_test_prefix('outbox-kill');
$settings = ['batch' => 50];
$gateway = dq_outbox_gateway($dbs, $prefix, $vhost->url(), $settings);
$config = dq_outbox_config($dbs, $vhost->url(), $settings);
(new Dq\Producer(['amqp' => $vhost->url()]))->declareQueue('relayed');
$pdo = $dbs->pdo('app');

$committed = [];
$kills = 0;
$started = microtime(true);
$nextKill = $started + 0.5;
for ($n = 0; microtime(true) - $started < 4.0; $n++) {
    $pdo->beginTransaction();
    $id = Dq\Outbox::publish($pdo, '', 'relayed', "body $n");
    $pdo->commit();
    $committed[$id] = "body $n";
    if ($kills < 3 && microtime(true) >= $nextKill) {
        $gateway->keepKeys();
        $gateway->kill();
        $kills++;
        usleep(100000); // rows pile up while no gateway runs
        $gateway = new TestGateway($prefix, ['DQ_AMQP' => $vhost->url()], ['--config', $config], true);
        $nextKill = microtime(true) + 0.7;
    }
    usleep(1000);
}
echo "kills: $kills, rows committed: ", count($committed) > 500 ? 'over 500' : count($committed), "\n";
$unsent = fn () => (int) $pdo->query('SELECT COUNT(*) FROM dq_outbox WHERE sent_at IS NULL')->fetchColumn();
var_dump(dq_eventually(fn () => $unsent() === 0, 20));

$connection = dq_amqplib($vhost);
$channel = $connection->channel();
$seen = [];
$wrongBody = 0;
while ($message = $channel->basic_get('relayed', true)) {
    $id = $message->get('message_id');
    $seen[$id] = ($seen[$id] ?? 0) + 1;
    $wrongBody += ($committed[$id] ?? null) === $message->getBody() ? 0 : 1;
}
$lost = array_diff_key($committed, $seen);
$copies = array_sum($seen) - count($seen);
echo "lost: ", count($lost), "\n";
echo "published but never committed: ", count(array_diff_key($seen, $committed)), "\n";
echo "bodies not their row's: $wrongBody\n";
echo "copies at most a batch per kill: ", var_export($copies <= $kills * $settings['batch'], true), "\n";
$channel->close();
$connection->close();
?>
--EXPECT--
kills: 3, rows committed: over 500
bool(true)
lost: 0
published but never committed: 0
bodies not their row's: 0
copies at most a batch per kill: true
