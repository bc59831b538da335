--TEST--
RabbitMQ cluster of 3 private nodes: dq.amqp with the three URLs; a node stopped (and started again) while Dq\Producer publishes with confirms to a quorum queue loses nothing confirmed and the producer moves to another node by itself; with amqp_queue_type = quorum a subscription's own queues (its queue, the delay queues of its ladder, its dead letters) are quorum queues and every message goes through the ladder (a new quorum delay queue settles before its first message), also when the first node stops and starts again while the gateway pushes
--EXTENSIONS--
dq
posix
--SKIPIF--
<?php
if (!is_executable('/usr/sbin/rabbitmq-server') || !is_executable('/usr/sbin/rabbitmqctl')) die('skip rabbitmq-server not installed');
if (function_exists('posix_geteuid') && posix_geteuid() !== 0) die('skip needs root to start private RabbitMQ nodes (the Debian wrappers su to rabbitmq)');
?>
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
require __DIR__ . '/inc/subscription.inc';

/** @var list<TestRabbit> $nodes */
// RabbitMQ 3.10's at-least-once dead-lettering retries a message its target queue refused only
// after dead_letter_worker_publisher_confirm_timeout (3 minutes by default); after a node loss
// that is what happens to retry copies (see README, "Scale-out"). As there, it is set lower.
$advanced = '[{rabbit, [{dead_letter_worker_publisher_confirm_timeout, 5000}]}].';
$nodes = [new TestRabbit($advanced), new TestRabbit($advanced), new TestRabbit($advanced)];
foreach ([1, 2] as $i) {
    $nodes[$i]->ctl(['stop_app']);
    $nodes[$i]->ctl(['join_cluster', $nodes[0]->node]);
    $nodes[$i]->ctl(['start_app']);
}
$running = function (TestRabbit $asked): int {
    $status = json_decode($asked->ctl(['cluster_status', '--formatter', 'json'], false), true);
    return count($status['running_nodes'] ?? []);
};
echo 'cluster of ', $running($nodes[2]), " running nodes\n";
$urls = implode(',', array_map(fn (TestRabbit $n) => $n->url(), $nodes));
$queues = function (TestRabbit $asked): array {
    $out = [];
    foreach (explode("\n", trim($asked->ctl(['list_queues', '--no-table-headers', 'name', 'type', 'messages']))) as $line) {
        $fields = preg_split('/\s+/', trim($line));
        if (count($fields) === 3) {
            $out[$fields[0]] = ['type' => $fields[1], 'messages' => (int) $fields[2]];
        }
    }
    ksort($out);
    return $out;
};

echo "-- publishing with confirms while the first node stops\n";
$producer = new Dq\Producer(['amqp' => $urls]);
$producer->declareQueue('orders', ['arguments' => ['x-queue-type' => 'quorum']]);
$confirmed = [];
$refused = [];
$publish = function (int $i) use ($producer, &$confirmed, &$refused): void {
    try {
        $producer->publish('', 'orders', "o$i", ['message_id' => "o$i"]);
        $confirmed[] = "o$i";
    } catch (Dq\Exception $e) {
        // Not confirmed: the connection lost, no answer in time, or a nack while the queue
        // elects a new leader. Only confirmed messages count.
        $refused[get_class($e)] = true;
        usleep(50000);
    }
};
// A second of publishing; the first node (the producer's) stops, stays down 2 s and starts
// again in the background while the publishing goes on, and a second more after.
for ($i = 0, $until = microtime(true) + 1; microtime(true) < $until; $i++) {
    $publish($i);
}
$before = count($confirmed);
$nodes[0]->restartInBackground(2.0);
$deadline = microtime(true) + 90;
do {
    $publish($i++);
} while ($nodes[0]->restarting() && microtime(true) < $deadline);
for ($until = microtime(true) + 1; microtime(true) < $until; $i++) {
    $publish($i);
}
echo 'confirmed before the stop: ', var_export($before > 0, true), ', after: ', var_export(count($confirmed) > $before, true), '; refused while it moved: ', implode(', ', array_keys($refused)) ?: 'none', "\n";
echo 'orders: ', $queues($nodes[1])['orders']['type'], "\n";
$consumer = new Dq\Consumer('orders', ['amqp' => $urls, 'prefetch' => 200]);
$seen = [];
while (($delivery = $consumer->next(2.0)) !== null) {
    $seen[$delivery->body()] = true;
    $delivery->ack();
}
echo 'lost: ', count(array_diff($confirmed, array_keys($seen))), "\n";
echo 'the node is back: ', $running($nodes[0]), " running nodes\n";

echo "-- a subscription on quorum queues\n";
$prefix = dq_test_prefix('qq');
$dir = sys_get_temp_dir() . "/$prefix";
mkdir($dir);
register_shutdown_function(function () use ($dir): void {
    array_map('unlink', glob("$dir/*"));
    @rmdir($dir);
});
// The endpoint refuses each message's first attempt (503), so the ladder's delay queue is
// used, and gives message "poison" a 410: a dead letter.
file_put_contents("$dir/endpoint.php", <<<'PHP'
    <?php
    $id = $_SERVER['HTTP_X_DQ_MESSAGE_ID'] ?? '?';
    $attempt = (int) ($_SERVER['HTTP_X_DQ_ATTEMPT'] ?? 1);
    if ($id === 'poison') { http_response_code(410); return; }
    if ($attempt === 1) { http_response_code(503); return; }
    file_put_contents(getenv('DIR') . '/taken.log', "$id\n", FILE_APPEND | LOCK_EX);
    echo 'ok';
    PHP);
touch("$dir/taken.log");
$taken = fn (): array => array_unique(file("$dir/taken.log", FILE_IGNORE_NEW_LINES) ?: []);
$endpoint = new TestEndpoint("$dir/endpoint.php", ['DIR' => $dir, 'PHP_CLI_SERVER_WORKERS' => '2']);
$file = "$dir/gateway.toml";
file_put_contents($file, <<<TOML
    amqp_queue_type = "quorum"
    [[subscription]]
    name = "jobs"
    queue = "jobs"
    callback = "{$endpoint->url}/jobs"
    retry = [0.3]
    max_attempts = 3
    concurrency = 4
    TOML);
$gateway = new TestGateway($prefix, ['DQ_AMQP' => $urls], ['--config', $file], true);
var_dump(dq_eventually(fn () => in_array('jobs', dq_consumed_queues_on($nodes[1]), true), 20));
$publisher = new Dq\Producer(['amqp' => $urls]);
$published = [];
$errors = [];
$publisher->publish('', 'jobs', 'poison', ['message_id' => 'poison']);
// Three hundred messages over about six seconds; after the first hundred the first node (the
// gateway's and the publisher's, the queues' leader) stops, stays down 2 s and starts again
// while the publishing and the pushing go on.
$takenBeforeStop = 0;
for ($i = 0; $i < 300; $i++) {
    if ($i === 100) {
        $takenBeforeStop = count($taken());
        $nodes[0]->restartInBackground(2.0);
    }
    usleep(20000);
    // As a publisher in a cluster does: a message not confirmed is published again (a queue
    // whose leader was on the stopped node refuses publishes until its new leader is known).
    for ($until = microtime(true) + 30; microtime(true) < $until;) {
        try {
            $publisher->publish('', 'jobs', "j$i", ['message_id' => "j$i"]);
            $published[] = "j$i";
            break;
        } catch (Dq\Exception $e) {
            $errors[get_class($e) . ': ' . $e->getMessage()] = true;
            usleep(100000);
        }
    }
}
for ($deadline = microtime(true) + 90; $nodes[0]->restarting() && microtime(true) < $deadline;) {
    usleep(100000);
}
echo 'pushed before the stop: ', var_export($takenBeforeStop > 0, true), "\n";
echo 'published: ', count($published) === 300 ? 'all' : count($published) . ' (' . implode(' | ', array_keys($errors)) . ")\n" . $nodes[1]->ctl(['list_queues', 'name', 'leader', 'members', 'online'], false), "\n";
$all = dq_eventually(fn () => array_diff($published, $taken()) === [], 90);
echo 'every published message delivered: ', var_export($all, true), '; missing: ', count(array_diff($published, $taken())), "\n";
$types = [];
foreach ($queues($nodes[1]) as $name => $queue) {
    if ($name === 'jobs' || str_starts_with($name, "$prefix.")) {
        $types[preg_replace('/\.delay-qq\..*/', '.delay-qq.<ladder>', $name)] = $queue['type'];
    }
}
ksort($types);
foreach ($types as $name => $type) {
    echo str_replace($prefix, '<prefix>', $name), ": $type\n";
}
[$status, $dead] = $gateway->request('GET', '/v1/subscriptions/jobs/dead');
echo 'dead letters: ', implode(', ', array_column(array_column($dead['dead'] ?? [], 'properties'), 'message_id')) ?: "none ($status " . json_encode($dead) . ')', "\n";
if (!$all) {
    echo json_encode($queues($nodes[1])), "\n", $nodes[1]->ctl(['list_queues', 'name', 'leader', 'online', 'messages'], false), "\n", $gateway->log();
}
$gateway->stop();
$endpoint->stop();

function dq_consumed_queues_on(TestRabbit $node): array
{
    return array_filter(explode("\n", trim($node->ctl(['list_consumers', '--no-table-headers', 'queue_name'], false))), 'strlen');
}
?>
--EXPECTF--
cluster of 3 running nodes
-- publishing with confirms while the first node stops
confirmed before the stop: true, after: true; refused while it moved: %s
orders: quorum
lost: 0
the node is back: 3 running nodes
-- a subscription on quorum queues
bool(true)
pushed before the stop: true
published: all
every published message delivered: true; missing: 0
<prefix>.dead.jobs: quorum
<prefix>.delay-qq.<ladder>: quorum
jobs: quorum
dead letters: poison
