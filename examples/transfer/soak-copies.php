<?php
// soak.sh's copies: COUNT credit messages published a second time, spread over SECONDS, as a
// relay that died after RabbitMQ confirmed them and before it marked them sent would publish
// them again: the same message_id and body, picked among the rows already relayed. Kills alone
// make such copies only now and then; the credit service must skip every one. Prints "copies=N".
//   php -d extension=dq.so soak-copies.php COUNT SECONDS
declare(strict_types=1);

use app\service\Database;
use app\service\Transfer;

$config = require __DIR__ . '/bootstrap.php';
$count = (int) ($argv[1] ?? 10);
$seconds = (float) ($argv[2] ?? 10);
$bank1 = Database::connect($config['bank1']);
$producer = new Dq\Producer($config['amqp'] === '' ? [] : ['amqp' => $config['amqp']]);
$pick = $bank1->prepare('SELECT message_id, body FROM dq_outbox WHERE sent_at IS NOT NULL ORDER BY RAND() LIMIT 1');
$copies = 0;
$started = microtime(true);
for ($i = 1; $i <= $count; $i++) {
    $wait = $started + $i * $seconds / ($count + 1) - microtime(true);
    if ($wait > 0) {
        usleep((int) ($wait * 1e6));
    }
    // A row already relayed (the first ones may still be on their way: 30 s at most).
    while (true) {
        $pick->execute();
        $row = $pick->fetch(PDO::FETCH_ASSOC);
        $pick->closeCursor();
        if ($row !== false || microtime(true) > $started + $seconds + 30) {
            break;
        }
        usleep(100000);
    }
    if ($row === false) {
        break;
    }
    $producer->publish(Transfer::EXCHANGE, Transfer::ROUTING_KEY, $row['body'],
        ['message_id' => $row['message_id'], 'content_type' => 'application/json', 'mandatory' => true]);
    $copies++;
}
echo "copies=$copies\n";
