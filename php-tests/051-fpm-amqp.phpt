--TEST--
Dq\Producer under php-fpm (pm = static, 2 workers): 80 requests publish 80 persistent messages; each worker keeps one RabbitMQ connection ("dq:<pid>") across requests and an idle pause
--EXTENSIONS--
dq
amqp
--SKIPIF--
<?php
if (!is_executable('/usr/sbin/php-fpm8.2')) die('skip /usr/sbin/php-fpm8.2 not installed (package php8.2-fpm)');
if (!is_executable('/usr/bin/cgi-fcgi')) die('skip cgi-fcgi not installed (package libfcgi-bin)');
if (!is_dir('/proc/self/fd')) die('skip needs /proc');
?>
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$vhost = new TestVhost('fpm-amqp');
register_shutdown_function(function () use ($vhost) {
    dq_rabbitmqctl(['delete_vhost', $vhost->name], false); // also after a fatal error
});
$queue = 'fpm-orders';
$producer = new Dq\Producer(['amqp' => $vhost->url()]);
$producer->declareQueue($queue, ['durable' => true]);

$fpm = new TestFpm(2);
$workers = $fpm->workers();
echo "workers: ", count($workers), "\n";
$page = __DIR__ . '/fixtures/amqp-publish.php';

/** Sends requests for bodies $from..$to; returns [ok count, pid => true of the workers that served]. */
function publish_through_fpm(TestFpm $fpm, string $page, string $url, string $queue, int $from, int $to): array
{
    $ok = 0;
    $served = [];
    for ($i = $from; $i <= $to; $i++) {
        $body = $fpm->request($page, http_build_query(['amqp' => $url, 'queue' => $queue, 'body' => (string) $i]));
        if (preg_match('/^(\d+) ok$/', $body, $m)) {
            $ok++;
            $served[(int) $m[1]] = true;
        } else {
            echo "request $i: $body\n";
        }
    }
    return [$ok, $served];
}

/** The vhost's dq connections as name => broker pid, and whether each is a socket of the worker it is named after. */
function dq_connections(TestVhost $vhost): array
{
    $byName = [];
    $owned = true;
    foreach (dq_amqp_connection_list($vhost->name) as $c) {
        if (!preg_match('/^dq:(\d+)$/', $c['name'], $m)) {
            continue;
        }
        $byName[$c['name']][] = $c['pid'];
        $owned = $owned && in_array($c['peer_port'], dq_tcp_ports((int) $m[1], 5672), true);
    }
    ksort($byName);
    return [$byName, $owned];
}

// Our own producer's connection ("dq:<this pid>") is in the vhost too: leave it out.
$self = 'dq:' . getmypid();
$workerNames = array_map(fn ($pid) => "dq:$pid", $workers);

[$ok, $served] = publish_through_fpm($fpm, $page, $vhost->url(), $queue, 1, 60);
echo "first 60 requests ok: $ok\n";
echo "served by the workers: ", var_export($served && !array_diff(array_keys($served), $workers), true), "\n";
[$first, $owned] = dq_connections($vhost);
unset($first[$self]);
echo "dq connections of FPM: at most 2: ", var_export(count($first) <= 2, true),
    ", one per worker that served: ", var_export(count($first) === count($served), true), "\n";
echo "each named dq:<a worker pid>: ", var_export(!array_diff(array_keys($first), $workerNames), true), "\n";
echo "one connection per name: ", var_export(max(array_map('count', $first ?: [[]])) === 1, true), "\n";
echo "each is a socket of that worker (/proc): ", var_export($owned, true), "\n";
echo "none named dq:<master pid>: ", var_export(!isset($first["dq:{$fpm->master}"]), true), "\n";

sleep(2); // idle workers
[$ok, $servedLater] = publish_through_fpm($fpm, $page, $vhost->url(), $queue, 61, 80);
echo "20 more requests after 2 s idle ok: $ok\n";
[$later] = dq_connections($vhost);
unset($later[$self]);
$kept = array_intersect_key($later, $first) == array_intersect_key($first, $later);
echo "same connections as before (broker pids): ", var_export($kept, true), "\n";
echo "no new connection but for a worker that had not served yet: ", var_export(!array_diff(array_keys($later), array_keys($first), array_map(fn ($pid) => "dq:$pid", array_keys(array_diff_key($servedLater, $served)))), true), "\n";
echo "workers unchanged: ", var_export($fpm->workers() === $workers, true), "\n";

// Every message, read with the pecl amqp extension.
$channel = dq_pecl_amqp($vhost);
$amqpQueue = new AMQPQueue($channel);
$amqpQueue->setName($queue);
$amqpQueue->setFlags(AMQP_DURABLE);
echo "messages in the queue: ", $amqpQueue->declareQueue(), "\n";
$bodies = [];
while (($envelope = $amqpQueue->get(AMQP_AUTOACK)) !== false) {
    $bodies[] = (int) $envelope->getBody();
    $persistent[] = $envelope->getDeliveryMode() === 2;
}
sort($bodies);
echo "bodies 1..80, each once: ", var_export($bodies === range(1, 80), true), "\n";
echo "all persistent: ", var_export(!in_array(false, $persistent ?? [false], true), true), "\n";

$fpm->stop();
$alive = array_filter($workers, fn ($pid) => preg_match('/\) [^Z] /', (string) @file_get_contents("/proc/$pid/stat")));
echo "php-fpm stopped, workers gone: ", var_export(!$alive && !is_dir($fpm->dir), true), "\n";
$deadline = microtime(true) + 5;
do {
    [$left] = dq_connections($vhost);
    unset($left[$self]);
} while ($left && microtime(true) < $deadline && usleep(100000) === null);
echo "their connections are gone from the broker: ", var_export($left === [], true), "\n";
?>
--EXPECT--
workers: 2
first 60 requests ok: 60
served by the workers: true
dq connections of FPM: at most 2: true, one per worker that served: true
each named dq:<a worker pid>: true
one connection per name: true
each is a socket of that worker (/proc): true
none named dq:<master pid>: true
20 more requests after 2 s idle ok: 20
same connections as before (broker pids): true
no new connection but for a worker that had not served yet: true
workers unchanged: true
messages in the queue: 80
bodies 1..80, each once: true
all persistent: true
php-fpm stopped, workers gone: true
their connections are gone from the broker: true
