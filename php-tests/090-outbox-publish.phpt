--TEST--
Dq\Outbox through the gateway's relay: a committed row is published with its body and properties intact (read by php-amqplib and pecl amqp), a rolled-back one never, an open one only once committed, order kept; Dq\Outbox::add lands in the delay queue after the commit and not before
--EXTENSIONS--
dq
pdo_mysql
amqp
mbstring
sockets
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$dbs = new TestDatabases(['app']);
$vhost = new TestVhost('outbox');
$prefix = dq_test_prefix('outbox');
$gateway = dq_outbox_gateway($dbs, $prefix, $vhost->url());
$pdo = $dbs->pdo('app');
$pdo->exec('CREATE TABLE account (id INT PRIMARY KEY, amount INT NOT NULL) ENGINE=InnoDB');
$pdo->exec('INSERT INTO account VALUES (1, 1000), (2, 0)');

$producer = new Dq\Producer(['amqp' => $vhost->url()]);
$producer->declareExchange('corp.transfers', 'direct');
foreach (['credits', 'raw', 'ordered'] as $queue) {
    $producer->declareQueue($queue);
}
$producer->bindQueue('credits', 'corp.transfers', 'credit');
$count = fn (string $queue) => (int) (dq_list_queues($vhost)[$queue]['messages'] ?? 0);

echo "-- a transfer: the debit and its message in one transaction\n";
$pdo->beginTransaction();
$pdo->prepare('UPDATE account SET amount = amount - ? WHERE id = ?')->execute([100, 1]);
$id = Dq\Outbox::publish($pdo, 'corp.transfers', 'credit', ['transfer' => 't-1', 'to' => 2, 'amount' => 100], [
    'message_id' => 't-1', 'type' => 'credit', 'priority' => 5, 'app_id' => 'bank',
    'headers' => ['x-attempt' => 1, 'x-from' => 'db1', 'nested' => ['a' => true]],
]);
echo "returned: $id\n";
usleep(300000);
echo "published before the commit: ", $count('credits'), "\n";
$pdo->commit();
var_dump(dq_eventually(fn () => $count('credits') === 1));

$connection = dq_amqplib($vhost);
$channel = $connection->channel();
$message = $channel->basic_get('credits', true);
echo $message->getBody(), "\n";
foreach (['message_id', 'type', 'priority', 'app_id', 'content_type', 'delivery_mode'] as $name) {
    echo "$name: ", json_encode($message->get($name)), "\n";
}
echo 'headers: ', json_encode(dq_ksort_deep($message->get('application_headers')->getNativeData())), "\n";

echo "-- bytes, not persistent, a generated id (pecl amqp)\n";
$body = "\x00\xff\xfe bytes \r\n ✓";
$pdo->beginTransaction();
$generated = Dq\Outbox::publish($pdo, '', 'raw', $body, ['persistent' => false, 'content_type' => 'application/octet-stream']);
$pdo->commit();
echo "generated id looks like a UUID: ", var_export((bool) preg_match('/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/', $generated), true), "\n";
var_dump(dq_eventually(fn () => $count('raw') === 1));
$pecl = dq_pecl_amqp($vhost);
$queue = new AMQPQueue($pecl);
$queue->setName('raw');
$envelope = $queue->get(AMQP_AUTOACK);
var_dump($envelope->getBody() === $body, $envelope->getMessageId() === $generated, $envelope->getDeliveryMode(), $envelope->getContentType());

echo "-- rolled back: never; left open: only once committed\n";
$pdo->beginTransaction();
Dq\Outbox::publish($pdo, '', 'ordered', 'rolled back', ['message_id' => 'rb']);
$pdo->rollBack();
$open = $dbs->pdo('app');
$open->beginTransaction();
Dq\Outbox::publish($open, '', 'ordered', 'open', ['message_id' => 'open']);
echo "-- order: 50 messages in 10 transactions, one after another\n";
for ($t = 0; $t < 10; $t++) {
    $pdo->beginTransaction();
    for ($i = 0; $i < 5; $i++) {
        Dq\Outbox::publish($pdo, '', 'ordered', (string) ($t * 5 + $i));
    }
    $pdo->commit();
}
var_dump(dq_eventually(fn () => $count('ordered') === 50));
usleep(300000);
echo "after 0.3 s more: ", $count('ordered'), "\n";
$open->commit();
var_dump(dq_eventually(fn () => $count('ordered') === 51));
$bodies = [];
while ($message = $channel->basic_get('ordered', true)) {
    $bodies[] = $message->getBody();
}
echo "in order: ", var_export($bodies === [...array_map('strval', range(0, 49)), 'open'], true), "\n";

echo "-- Outbox::add: in the delay queue after the commit, not before\n";
$gateway->topic('order.timeout');
$client = new Dq\Client(['prefix' => $prefix]);
$pdo->beginTransaction();
$pdo->exec("UPDATE account SET amount = amount WHERE id = 1");
$added = Dq\Outbox::add($pdo, 'order.timeout', ['id' => 'order-9', 'body' => ['order' => 9], 'delay' => 1800]);
$addedAt = microtime(true);
echo "returned: $added\n";
usleep(300000);
var_dump($client->get('order.timeout', 'order-9'));
$pdo->commit();
var_dump(dq_eventually(fn () => $client->get('order.timeout', 'order-9') !== null));
$stored = $client->get('order.timeout', 'order-9');
echo json_encode($stored['body']), ' ', $stored['state'], "\n";
echo "due 1800 s after the add: ", var_export(abs($stored['due_at'] - $addedAt - 1800) < 1.0, true), "\n";

echo "-- every row marked sent\n";
[$rows, $unsent] = $pdo->query('SELECT COUNT(*), SUM(sent_at IS NULL) FROM dq_outbox')->fetch(PDO::FETCH_NUM);
echo "$rows rows, $unsent unsent\n";
$channel->close();
$connection->close();
?>
--EXPECT--
-- a transfer: the debit and its message in one transaction
returned: t-1
published before the commit: 0
bool(true)
{"transfer":"t-1","to":2,"amount":100}
message_id: "t-1"
type: "credit"
priority: 5
app_id: "bank"
content_type: "application\/json"
delivery_mode: 2
headers: {"nested":{"a":true},"x-attempt":1,"x-from":"db1"}
-- bytes, not persistent, a generated id (pecl amqp)
generated id looks like a UUID: true
bool(true)
bool(true)
bool(true)
int(1)
string(24) "application/octet-stream"
-- rolled back: never; left open: only once committed
-- order: 50 messages in 10 transactions, one after another
bool(true)
after 0.3 s more: 50
bool(true)
in order: true
-- Outbox::add: in the delay queue after the commit, not before
returned: order-9
NULL
bool(true)
{"order":9} delayed
due 1800 s after the add: true
-- every row marked sent
54 rows, 0 unsent
