--TEST--
Dq\Inbox::claim under four concurrent consumers of duplicated and redelivered messages (some rolled back and requeued, some committed and then redelivered as after a crash before the ack): each message applied exactly once
--EXTENSIONS--
dq
pdo_mysql
pcntl
posix
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$dbs = new TestDatabases(['app']);
$vhost = new TestVhost('inbox');
$pdo = $dbs->pdo('app');
foreach (array_filter(array_map('trim', preg_split('/;\s*$/m', preg_replace('/^--.*$/m', '', Dq\Outbox::schema())))) as $ddl) {
    $pdo->exec($ddl);
}
// Every application of a message is logged (no unique key): a double application shows.
$pdo->exec('CREATE TABLE applied (message_id VARCHAR(64) NOT NULL, by_pid INT NOT NULL) ENGINE=InnoDB');
$pdo->exec('CREATE TABLE account (id INT PRIMARY KEY, amount INT NOT NULL) ENGINE=InnoDB');
$pdo->exec('INSERT INTO account VALUES (2, 0)');

$producer = new Dq\Producer(['amqp' => $vhost->url()]);
$producer->declareQueue('credits');
$messages = 200;
for ($round = 0; $round < 2; $round++) { // every message twice: a publisher that retried
    $batch = [];
    for ($i = 0; $i < $messages; $i++) {
        $batch[] = ['routing_key' => 'credits', 'body' => ['amount' => 1], 'properties' => ['message_id' => "credit-$i"]];
    }
    $producer->publishBatch('', $batch);
}

$children = [];
for ($c = 0; $c < 4; $c++) {
    $pid = pcntl_fork();
    if ($pid === 0) {
        mt_srand(getmypid());
        $db = $dbs->pdo('app');
        $consumer = new Dq\Consumer('credits', ['amqp' => $vhost->url(), 'prefetch' => 5]);
        $idle = 0;
        while ($idle < 3) {
            $delivery = $consumer->next(0.5);
            if ($delivery === null) {
                $idle++;
                continue;
            }
            $idle = 0;
            $id = $delivery->properties()['message_id'];
            $db->beginTransaction();
            if (Dq\Inbox::claim($db, 'credit-service', $id)) {
                $db->prepare('UPDATE account SET amount = amount + 1 WHERE id = 2')->execute();
                $db->prepare('INSERT INTO applied VALUES (?, ?)')->execute([$id, getmypid()]);
            }
            $fate = mt_rand(0, 99);
            if ($fate < 15) {          // the handler failed: nothing applied, redelivered
                $db->rollBack();
                $delivery->nack(true);
            } elseif ($fate < 25) {    // committed, then died before the ack: redelivered
                $db->commit();
                $delivery->nack(true);
            } else {
                $db->commit();
                $delivery->ack();
            }
        }
        exit(0);
    }
    $children[] = $pid;
}
$exits = [];
foreach ($children as $pid) {
    pcntl_waitpid($pid, $status);
    $exits[] = pcntl_wifexited($status) ? pcntl_wexitstatus($status) : -1;
}
echo "children exited: ", json_encode($exits), "\n";
$pdo = $dbs->pdo('app'); // the children closed the connection they inherited
echo "left in the queue: ", dq_list_queues($vhost)['credits']['messages'], "\n";
echo "messages applied: ", $pdo->query('SELECT COUNT(DISTINCT message_id) FROM applied')->fetchColumn(), "\n";
echo "applied more than once: ", $pdo->query('SELECT COUNT(*) FROM (SELECT message_id FROM applied GROUP BY message_id HAVING COUNT(*) > 1) twice')->fetchColumn(), "\n";
echo "balance: ", $pdo->query('SELECT amount FROM account WHERE id = 2')->fetchColumn(), "\n";
echo "claims: ", $pdo->query("SELECT COUNT(*) FROM dq_inbox WHERE consumer = 'credit-service'")->fetchColumn(), "\n";
echo "consumers that applied some: ", $pdo->query('SELECT COUNT(DISTINCT by_pid) FROM applied')->fetchColumn() > 1 ? 'several' : 'one', "\n";
echo "another consumer's claim of the same id: ", var_export(Dq\Inbox::claim($pdo, 'audit-service', 'credit-1'), true), "\n";
?>
--EXPECT--
children exited: [0,0,0,0]
left in the queue: 0
messages applied: 200
applied more than once: 0
balance: 200
claims: 200
consumers that applied some: several
another consumer's claim of the same id: true
