<?php
// make bench: the transactional outbox.
//  1. What Dq\Outbox::publish costs in a transaction against a plain PDO INSERT of the same row
//     (the same statement and values, built by hand): per transaction (BEGIN, the row, COMMIT)
//     and per call inside one long transaction.
//  2. The relay: committed rows to confirmed publishes per second, dq-gateway's relay against
//     the hand-written PHP relay it replaces (php-amqplib, publisher confirms, SELECT ... FOR
//     UPDATE SKIP LOCKED, UPDATE sent_at), over the same backlog.
//  3. Commit-to-queue lag at a steady 1,000 messages/s (rows written by this script, read back by
//     a consumer), p50 and p99.
// Databases, queues and the gateway are the benchmark's own; everything is removed at the end.
// Usage: php outbox.php [backlog rows] [lag seconds]
declare(strict_types=1);
require_once '/usr/share/php/PhpAmqpLib/autoload.php';

use PhpAmqpLib\Connection\AMQPStreamConnection;
use PhpAmqpLib\Message\AMQPMessage;

$backlog = (int) ($argv[1] ?? 50000);
$lagSeconds = (float) ($argv[2] ?? 10);
$root = dirname(__DIR__);
$name = 'dqbench_outbox_' . getmypid();
$queue = "dqbench.outbox." . getmypid();
$server = new PDO('mysql:host=127.0.0.1;port=3306', 'root', '', [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]);
$server->exec("CREATE DATABASE `$name`");
$gateway = null;
$files = [];
register_shutdown_function(function () use ($name, $queue, &$gateway, &$files): void {
    if (is_resource($gateway)) {
        proc_terminate($gateway, 15);
        proc_close($gateway);
    }
    (new PDO('mysql:host=127.0.0.1;port=3306', 'root', '', [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]))
        ->exec("DROP DATABASE IF EXISTS `$name`");
    try {
        $amqp = new AMQPStreamConnection('127.0.0.1', 5672, 'guest', 'guest');
        $amqp->channel()->queue_delete($queue);
        $amqp->close();
    } catch (Throwable) {
    }
    array_map('unlink', array_filter($files, 'file_exists'));
});

$pdo = new PDO("mysql:host=127.0.0.1;port=3306;dbname=$name", 'root', '', [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]);
$config = tempnam(sys_get_temp_dir(), 'dq-bench-outbox-');
$files[] = $config;
$log = tempnam(sys_get_temp_dir(), 'dq-bench-outbox-log-');
$files[] = $log;
file_put_contents($config, "[databases]\napp = \"mysql://root@127.0.0.1:3306/$name\"\n[outbox]\ndatabases = [\"app\"]\nkeep_sent = 3600\n");
exec(escapeshellarg("$root/build/dq-gateway") . ' --config ' . escapeshellarg($config) . ' migrate 2>&1', $out, $status);
if ($status !== 0) {
    fwrite(STDERR, implode("\n", $out) . "\n");
    exit(1);
}
$pdo->exec('CREATE TABLE account (id INT PRIMARY KEY, amount BIGINT NOT NULL) ENGINE=InnoDB');
$pdo->exec('INSERT INTO account VALUES (1, 1000000000)');
$amqp = new AMQPStreamConnection('127.0.0.1', 5672, 'guest', 'guest');
$channel = $amqp->channel();
$channel->queue_declare($queue, false, true, false, false);

$body = ['transfer' => 't-000000', 'to' => 2, 'amount' => 100, 'note' => str_repeat('x', 64)];
$properties = ['type' => 'credit', 'headers' => ['x-from' => 'db1']];
$insert = 'INSERT INTO dq_outbox (kind, target, routing_key, message_id, body, properties, due_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)';
/** The row Dq\Outbox::publish writes, built by hand: what an application would do without dq. */
$plain = function (PDO $pdo, int $n) use ($insert, $body, $queue): void {
    $id = sprintf('m-%08d', $n);
    $pdo->prepare($insert)->execute([
        'publish', '', $queue, $id, json_encode($body),
        json_encode(['type' => 'credit', 'headers' => ['x-from' => 'db1'], 'content_type' => 'application/json', 'message_id' => $id, 'delivery_mode' => 2, 'persistent' => true]),
        null,
    ]);
};
$dq = function (PDO $pdo, int $n) use ($body, $properties, $queue): void {
    Dq\Outbox::publish($pdo, '', $queue, $body, $properties + ['message_id' => sprintf('m-%08d', $n)]);
};

echo "-- 1. the row: Dq\\Outbox::publish vs a plain PDO INSERT of the same row\n";
$perTransaction = function (Closure $write, int $count) use ($pdo): float {
    $started = hrtime(true);
    for ($i = 0; $i < $count; $i++) {
        $pdo->beginTransaction();
        $pdo->prepare('UPDATE account SET amount = amount - 1 WHERE id = 1')->execute();
        $write($pdo, $i);
        $pdo->commit();
    }
    return (hrtime(true) - $started) / 1e3 / $count;
};
$perCall = function (Closure $write, int $count) use ($pdo): float {
    $pdo->beginTransaction();
    $started = hrtime(true);
    for ($i = 0; $i < $count; $i++) {
        $write($pdo, $i);
    }
    $elapsed = hrtime(true) - $started;
    $pdo->rollBack();
    return $elapsed / 1e3 / $count;
};
$results = ['tx' => ['dq' => [], 'plain' => []], 'call' => ['dq' => [], 'plain' => []]];
for ($round = 0; $round < 3; $round++) {
    foreach (['plain' => $plain, 'dq' => $dq] as $which => $write) {
        $results['tx'][$which][] = $perTransaction($write, 2000);
        $results['call'][$which][] = $perCall($write, 5000);
    }
}
$pdo->exec('DELETE FROM dq_outbox');
foreach (['tx' => 'per transaction (UPDATE + row + COMMIT)', 'call' => 'per call, inside one transaction'] as $kind => $label) {
    $d = min($results[$kind]['dq']);
    $p = min($results[$kind]['plain']);
    printf("  %-42s dq %7.1f us  plain PDO %7.1f us  dq/plain = %.2fx (target <= 1.3x)\n", $label, $d, $p, $d / $p);
}

/** Fills the outbox with $count committed rows (what the relays then work off). */
$fill = function (int $count) use ($pdo, $plain): void {
    $pdo->beginTransaction();
    for ($i = 0; $i < $count; $i++) {
        $plain($pdo, $i);
        if ($i % 5000 === 4999) {
            $pdo->commit();
            $pdo->beginTransaction();
        }
    }
    $pdo->commit();
};
$unsent = fn (): int => (int) $pdo->query('SELECT COUNT(*) FROM dq_outbox WHERE sent_at IS NULL')->fetchColumn();
$purge = function () use ($channel, $queue, $pdo): void {
    $channel->queue_purge($queue);
    $pdo->exec('DELETE FROM dq_outbox');
};
$startGateway = function () use (&$gateway, $root, $config, $log): void {
    $gateway = proc_open(
        [
            "$root/build/dq-gateway", '--config', $config, '--workers-only',
        ],
        [0 => ['file', '/dev/null', 'r'], 1 => ['file', $log, 'a'], 2 => ['file', $log, 'a']],
        $pipes,
        null,
        ['DQ_PREFIX' => 'dqbench-outbox-' . getmypid(), 'DQ_LOG' => 'warn', 'PATH' => getenv('PATH') ?: '/usr/bin:/bin'],
    );
};
$stopGateway = function () use (&$gateway): void {
    proc_terminate($gateway, 15);
    proc_close($gateway);
    $gateway = null;
};

/** The relay a PHP shop writes by hand: php-amqplib with confirms, in batches of 500. */
$phpRelay = function () use ($name, $queue): void {
    $db = new PDO("mysql:host=127.0.0.1;port=3306;dbname=$name", 'root', '', [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]);
    $db->exec('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED');
    $amqp = new AMQPStreamConnection('127.0.0.1', 5672, 'guest', 'guest');
    $channel = $amqp->channel();
    $channel->confirm_select();
    $take = $db->prepare('SELECT id, target, routing_key, message_id, body, properties FROM dq_outbox WHERE sent_at IS NULL ORDER BY id LIMIT 500 FOR UPDATE SKIP LOCKED');
    while (true) {
        $db->beginTransaction();
        $take->execute();
        $rows = $take->fetchAll(PDO::FETCH_ASSOC);
        if (!$rows) {
            $db->commit();
            break;
        }
        foreach ($rows as $row) {
            $props = json_decode($row['properties'], true);
            $message = new AMQPMessage($row['body'], [
                'message_id' => $row['message_id'], 'type' => $props['type'], 'content_type' => $props['content_type'],
                'delivery_mode' => 2, 'application_headers' => new PhpAmqpLib\Wire\AMQPTable($props['headers']),
            ]);
            $channel->basic_publish($message, $row['target'], $row['routing_key']);
        }
        $channel->wait_for_pending_acks(5.0);
        $ids = implode(',', array_map('intval', array_column($rows, 'id')));
        $db->exec("UPDATE dq_outbox SET sent_at = NOW(6), attempts = attempts + 1 WHERE id IN ($ids)");
        $db->commit();
    }
    $channel->close();
    $amqp->close();
};

echo "\n-- 2. relay throughput: $backlog committed rows to confirmed publishes\n";
$rates = ['dq' => [], 'php' => []];
for ($round = 0; $round < 2; $round++) {
    $fill($backlog);
    $started = microtime(true);
    $phpRelay();
    $rates['php'][] = $backlog / (microtime(true) - $started);
    $purge();

    $fill($backlog);
    $startGateway();
    // Timed from the first rows relayed (the gateway's start-up left out) to the last.
    while (($left = $unsent()) === $backlog) {
        usleep(2000);
    }
    $started = microtime(true);
    while ($unsent() > 0) {
        usleep(20000);
    }
    $rates['dq'][] = $left / (microtime(true) - $started);
    $stopGateway();
    $purge();
}
$d = max($rates['dq']);
$p = max($rates['php']);
printf("  dq-gateway relay   %8.0f msg/s (target >= 10,000)\n", $d);
printf("  php-amqplib relay  %8.0f msg/s (hand-written, batches of 500)\n", $p);
printf("  dq/php-amqplib     = %.1fx\n", $d / $p);

echo "\n-- 3. commit-to-queue lag at a steady 1,000 msg/s for {$lagSeconds} s (consumer: php-amqplib)\n";
$startGateway();
usleep(500000);
$pid = pcntl_fork();
if ($pid === 0) {
    // The writer: one row per transaction, paced to 1,000 per second; the body holds the time
    // of the commit.
    $db = new PDO("mysql:host=127.0.0.1;port=3306;dbname=$name", 'root', '', [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]);
    $count = (int) ($lagSeconds * 1000);
    $started = microtime(true);
    for ($i = 0; $i < $count; $i++) {
        $due = $started + $i / 1000;
        $wait = $due - microtime(true);
        if ($wait > 0) {
            usleep((int) ($wait * 1e6));
        }
        $db->beginTransaction();
        $id = Dq\Outbox::publish($db, '', $queue, '', ['message_id' => "lag-$i"]);
        $db->commit();
        // The commit's time, sent beside the message (the row cannot hold a time taken after
        // its own commit): the consumer matches by message id.
        file_put_contents("/dev/shm/dqbench-lag-" . getmypid(), "$id " . microtime(true) . "\n", FILE_APPEND);
    }
    // Gone without destructors: the AMQP and MySQL sockets inherited from the parent are the
    // parent's to close.
    posix_kill(getmypid(), SIGKILL);
}
$commits = "/dev/shm/dqbench-lag-$pid";
$files[] = $commits;
$arrived = [];
$expected = (int) ($lagSeconds * 1000);
$channel->basic_qos(0, 500, false);
$channel->basic_consume($queue, '', false, true, false, false, function (AMQPMessage $m) use (&$arrived): void {
    $arrived[$m->get('message_id')] = microtime(true);
});
$deadline = microtime(true) + $lagSeconds + 15;
while (count($arrived) < $expected && microtime(true) < $deadline) {
    try {
        $channel->wait(null, false, 0.5);
    } catch (PhpAmqpLib\Exception\AMQPTimeoutException) {
    }
}
pcntl_waitpid($pid, $status);
$stopGateway();
$lags = [];
foreach (file($commits, FILE_IGNORE_NEW_LINES) as $line) {
    [$id, $at] = explode(' ', $line);
    if (isset($arrived[$id])) {
        $lags[] = max(0.0, $arrived[$id] - (float) $at) * 1000;
    }
}
sort($lags);
$pct = fn (float $p) => $lags ? $lags[min(count($lags) - 1, (int) floor($p * count($lags)))] : NAN;
printf("  arrived %d of %d; lag p50 %.1f ms, p99 %.1f ms (target p99 <= 100 ms), max %.1f ms\n", count($lags), $expected, $pct(0.5), $pct(0.99), $lags ? end($lags) : NAN);
$channel->close();
$amqp->close();
