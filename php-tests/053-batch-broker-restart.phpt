--TEST--
RabbitMQ restart during publishBatch (a private node): a batch either returns (all its messages are in the queue) or throws saying how many were confirmed, and at least that many are in the queue; the same Dq\Producer works again afterwards
--EXTENSIONS--
dq
amqp
posix
--SKIPIF--
<?php
if (!is_executable('/usr/sbin/rabbitmq-server') || !is_executable('/usr/sbin/rabbitmqctl')) die('skip rabbitmq-server not installed');
if (function_exists('posix_geteuid') && posix_geteuid() !== 0) die('skip needs root to start a private RabbitMQ node (the Debian wrappers su to rabbitmq)');
?>
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';

$rabbit = new TestRabbit();
$producer = new Dq\Producer(['amqp' => $rabbit->url(), 'timeout' => 5.0]);
$queue = 'dq-batch-restart';
$producer->declareQueue($queue, ['durable' => true]);

// Batches of ~10 MB (10,000 persistent messages of 1 KiB), back to back, so that the broker
// stops in the middle of one of them: it is written in pieces and its confirms read as they come.
$size = 10000;
$padding = str_repeat('.', 1024);
$confirmed = [];   // batch => how many the producer said were confirmed
$failures = [];
$restarted = false;
$deadline = microtime(true) + 60;
for ($batch = 1; microtime(true) < $deadline; $batch++) {
    if ($batch === 3) {
        $rabbit->restartInBackground(1.0);
        $restarted = true;
    }
    $messages = [];
    for ($i = 0; $i < $size; $i++) {
        $messages[] = ['routing_key' => $queue, 'body' => "$batch-$i $padding"];
    }
    try {
        $confirmed[$batch] = $producer->publishBatch('', $messages);
    } catch (Dq\Exception $e) {
        $failures[$batch] = get_class($e) . ': ' . $e->getMessage();
        $confirmed[$batch] = preg_match('/\((\d+) of (\d+) messages were confirmed\)$/', $e->getMessage(), $m) ? (int) $m[1] : 0;
        usleep(100000);
    }
    if ($restarted && !$rabbit->restarting() && !isset($failures[$batch]) && $failures) {
        break;
    }
}
echo 'a batch failed while the broker went down: ', var_export((bool) $failures, true), "\n";
$partial = array_filter($failures, fn ($what) => preg_match('/\((\d+) of 10000 messages were confirmed\)$/', $what, $m) && $m[1] < 10000);
echo 'one of them part-way, saying how many were confirmed: ', var_export((bool) $partial, true), "\n";
$classes = array_unique(array_map(fn ($what) => strstr($what, ':', true), $failures));
echo 'exception classes only Connection/Timeout: ', var_export(!array_diff($classes, ['Dq\ConnectionException', 'Dq\TimeoutException']), true), "\n";
echo 'the last batch returned: ', var_export(!isset($failures[array_key_last($confirmed)]), true), "\n";

// Everything in the queue, read with pecl amqp.
$connection = new AMQPConnection(['host' => '127.0.0.1', 'port' => $rabbit->port, 'login' => 'guest', 'password' => 'guest', 'vhost' => '/', 'read_timeout' => 5]);
$connection->connect();
$amqpQueue = new AMQPQueue(new AMQPChannel($connection));
$amqpQueue->setName($queue);
$amqpQueue->setFlags(AMQP_DURABLE);
$amqpQueue->declareQueue();
$stored = [];
$duplicates = 0;
while (($envelope = $amqpQueue->get(AMQP_AUTOACK)) !== false) {
    $id = strstr($envelope->getBody(), ' ', true);
    $duplicates += isset($stored[$id]) ? 1 : 0;
    $stored[$id] = true;
}
$perBatch = [];
foreach (array_keys($stored) as $id) {
    $b = (int) strstr($id, '-', true);
    $perBatch[$b] = ($perBatch[$b] ?? 0) + 1;
}
$short = [];
foreach ($confirmed as $b => $count) {
    if (($perBatch[$b] ?? 0) < $count) {
        $short[$b] = [$count, $perBatch[$b] ?? 0];
    }
}
echo 'batches with fewer messages in the queue than confirmed: ', count($short), "\n";
echo 'duplicates: ', $duplicates, "\n";
if ($short || !$partial) {
    echo "--- diagnostics\n", json_encode(['confirmed' => $confirmed, 'stored' => $perBatch, 'failures' => $failures], JSON_PRETTY_PRINT), "\n";
}
$connection->disconnect();
?>
--EXPECT--
a batch failed while the broker went down: true
one of them part-way, saying how many were confirmed: true
exception classes only Connection/Timeout: true
the last batch returned: true
batches with fewer messages in the queue than confirmed: 0
duplicates: 0
