--TEST--
Outbox relay: two gateways relaying one database while rows are written by four processes: every row published exactly once (FOR UPDATE SKIP LOCKED), and both gateways took a share
--EXTENSIONS--
dq
pdo_mysql
pcntl
mbstring
sockets
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$dbs = new TestDatabases(['app']);
$vhost = new TestVhost('outbox-two');
$prefix = dq_test_prefix('outbox-two');
$settings = ['batch' => 20, 'interval' => 0.005];
$first = dq_outbox_gateway($dbs, $prefix, $vhost->url(), $settings);
$config = dq_outbox_config($dbs, $vhost->url(), $settings);
$second = new TestGateway($prefix, ['DQ_AMQP' => $vhost->url()], ['--config', $config], true);
$second->keepKeys();
(new Dq\Producer(['amqp' => $vhost->url()]))->declareQueue('relayed');

$writers = [];
for ($w = 0; $w < 4; $w++) {
    $pid = pcntl_fork();
    if ($pid === 0) {
        $pdo = $dbs->pdo('app');
        for ($t = 0; $t < 50; $t++) {
            $pdo->beginTransaction();
            for ($i = 0; $i < 5; $i++) {
                Dq\Outbox::publish($pdo, '', 'relayed', "$w-$t-$i", ['message_id' => "$w-$t-$i"]);
            }
            $pdo->commit();
            usleep(2000);
        }
        exit(0);
    }
    $writers[] = $pid;
}
foreach ($writers as $pid) {
    pcntl_waitpid($pid, $status);
}
$pdo = $dbs->pdo('app');
$unsent = fn () => (int) $pdo->query('SELECT COUNT(*) FROM dq_outbox WHERE sent_at IS NULL')->fetchColumn();
var_dump(dq_eventually(fn () => $unsent() === 0, 20));
echo "rows: ", $pdo->query('SELECT COUNT(*) FROM dq_outbox')->fetchColumn(), "\n";

$connection = dq_amqplib($vhost);
$channel = $connection->channel();
$seen = [];
while ($message = $channel->basic_get('relayed', true)) {
    $seen[$message->get('message_id')] = ($seen[$message->get('message_id')] ?? 0) + 1;
}
echo "distinct messages: ", count($seen), ", published twice: ", count(array_filter($seen, fn ($n) => $n > 1)), "\n";
$relayed = function (TestGateway $gateway): float {
    $text = file_get_contents($gateway->url . '/metrics');
    return preg_match('/^dq_outbox_relayed_total\{database="app",kind="publish"\} (\S+)$/m', $text, $m) ? (float) $m[1] : 0.0;
};
[$a, $b] = [$relayed($first), $relayed($second)];
echo "relayed by both: ", var_export($a > 0 && $b > 0, true), ", together: ", $a + $b, "\n";
$channel->close();
$connection->close();
?>
--EXPECT--
bool(true)
rows: 1000
distinct messages: 1000, published twice: 0
relayed by both: true, together: 1000
