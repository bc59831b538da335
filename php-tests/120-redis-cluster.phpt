--TEST--
Dq\Client and dq-gateway on a private Redis Cluster (3 masters, 3 replicas, redis+cluster://): add, get, addMany, stats, del, reserve; with replicas = 1 a master killed during adds loses no acknowledged message and the gateway delivers every one, neither restarted; /healthz lists every node and warns of the dead one; bad URLs and replica counts are named
--EXTENSIONS--
dq
posix
--SKIPIF--
<?php
if (!is_executable('/usr/bin/redis-server') || !is_executable('/usr/bin/redis-cli')) die('skip redis-server and redis-cli are not installed');
?>
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
require __DIR__ . '/inc/subscription.inc';

$root = dq_root();
$prefix = dq_test_prefix('cluster');
$dir = sys_get_temp_dir() . "/$prefix";
$nodes = "$dir-nodes";
mkdir($dir);
$url = trim((string) shell_exec('bash ' . escapeshellarg("$root/scripts/redis-cluster.sh") . ' start ' . escapeshellarg($nodes) . ' 3 1'));
register_shutdown_function(function () use ($root, $dir, $nodes): void {
    shell_exec('bash ' . escapeshellarg("$root/scripts/redis-cluster.sh") . ' stop ' . escapeshellarg($nodes));
    array_map('unlink', glob("$dir/*"));
    @rmdir($dir);
});
echo 'cluster: ', preg_match('~^redis\+cluster://(127\.0\.0\.1:\d+,){2}127\.0\.0\.1:\d+$~', $url) ? 'up' : "not up ($url)", "\n";

// The endpoint logs each delivered message's id.
file_put_contents("$dir/endpoint.php", <<<'PHP'
    <?php
    file_put_contents(getenv('DIR') . '/taken.log', ($_SERVER['HTTP_X_DQ_ID'] ?? '?') . "\n", FILE_APPEND | LOCK_EX);
    echo 'ok';
    PHP);
touch("$dir/taken.log");
$endpoint = new TestEndpoint("$dir/endpoint.php", ['DIR' => $dir, 'PHP_CLI_SERVER_WORKERS' => '2']);
$gateway = new TestGateway($prefix, ['DQ_REDIS' => $url, 'DQ_REPLICAS' => '1'], [], true);
$gateway->topic('pay', ['callback' => "{$endpoint->url}/pay", 'retry' => [0.2, 0.5]]);
$gateway->topic('pulled', ['mode' => 'pull']);
$taken = fn (): array => array_unique(file("$dir/taken.log", FILE_IGNORE_NEW_LINES) ?: []);

echo "-- every operation\n";
$client = new Dq\Client(['redis' => $url, 'prefix' => $prefix, 'replicas' => 1]);
var_dump($client->add('pulled', ['id' => 'a', 'body' => ['n' => 1], 'delay' => 60]));
$got = $client->get('pulled', 'a');
echo 'get: ', $got['state'], ' ', json_encode($got['body']), "\n";
$items = [];
for ($i = 0; $i < 200; $i++) {
    $items[] = ['id' => "m$i", 'body' => $i];
}
echo 'addMany: ', $client->addMany('pulled', $items), "\n";
$stats = $client->stats('pulled');
echo "stats: ready {$stats['ready']}, delayed {$stats['delayed']}\n";
var_dump($client->del('pulled', 'a'));
$reserved = [];
while (count($reserved) < 200 && ($job = $client->reserve('pulled', 2.0)) !== null) {
    $job->ack();
    $reserved[$job->id()] = true;
}
echo 'reserved and acked: ', count($reserved), "\n";
[$status, $health] = $gateway->request('GET', '/healthz');
echo "healthz: $status, nodes ", count($health['redis']), ', all up: ', var_export(array_unique(array_column($health['redis'], 'state')) === ['up'], true),
    ', persistence warned: ', var_export(str_contains(implode(' ', $health['warnings']), 'keeps nothing on disk'), true), "\n";

echo "-- a master killed during adds (replicas = 1)\n";
$ports = file("$nodes/ports", FILE_IGNORE_NEW_LINES);
$victim = $ports[0];
$acked = [];
$failed = [];
$started = microtime(true);
$killed = false;
for ($i = 0; microtime(true) - $started < 5; $i++) {
    if (!$killed && microtime(true) - $started > 1) {
        posix_kill((int) file_get_contents("$nodes/redis-$victim.pid"), SIGKILL);
        $killed = true;
    }
    try {
        $client->add('pay', ['id' => "p$i", 'body' => ['i' => $i], 'delay' => 0.2]);
        $acked[] = "p$i";
    } catch (Dq\ConnectionException | Dq\TimeoutException $e) {
        $failed[get_class($e)] = true;
        usleep(20000);
    }
}
echo 'acknowledged adds: ', count($acked) > 100 ? 'many' : count($acked), "; refused while the cluster failed over: ", implode(', ', array_keys($failed)) ?: 'none', "\n";
var_dump(dq_eventually(fn () => array_diff($acked, $taken()) === [], 60));
echo 'lost: ', count(array_diff($acked, $taken())), "\n";
// The same client and gateway carry on.
var_dump($client->add('pay', ['id' => 'after', 'body' => 'after']));
var_dump(dq_eventually(fn () => in_array('after', $taken(), true), 20));
[$status, $health] = $gateway->request('GET', '/healthz');
$down = array_values(array_filter($health['redis'], fn ($n) => $n['state'] === 'down'));
echo "healthz: $status {$health['status']}, down: ", count($down), ' (', str_starts_with($down[0]['server'] ?? '', "127.0.0.1:$victim ") ? 'the killed master' : json_encode($down), ")\n";

echo "-- bad input\n";
foreach ([
    'cluster among shards' => ['redis' => "redis://127.0.0.1:6379/0,$url"],
    'a node that is no host:port' => ['redis' => 'redis+cluster://127.0.0.1:7000,nope:x'],
    'partitions 0' => ['redis' => "$url/?partitions=0"],
    'replicas 99' => ['redis' => $url, 'replicas' => 99],
    'replicas "one"' => ['redis' => $url, 'replicas' => 'one'],
] as $what => $options) {
    try {
        new Dq\Client($options + ['prefix' => $prefix]);
        echo "$what: accepted\n";
    } catch (Dq\Exception $e) {
        printf("%-28s %s(%d): %s\n", $what, get_class($e), $e->getCode(), $e->getMessage());
    }
}
try {
    (new Dq\Client(['redis' => 'redis+cluster://127.0.0.1:6379', 'prefix' => $prefix]))->stats('pay');
} catch (Dq\Exception $e) {
    printf("%-28s %s(%d): %s\n", 'a single server', get_class($e), $e->getCode(), $e->getMessage());
}
$php = implode(' ', array_map('escapeshellarg', dq_php_command(['-r', 'try { new Dq\Client(); } catch (Dq\Exception $e) { echo get_class($e), ": ", $e->getMessage(); }'], ['dq.replicas' => 'two'], [])));
echo 'dq.replicas=two: ', shell_exec($php), "\n";
?>
--EXPECTF--
cluster: up
-- every operation
bool(true)
get: delayed {"n":1}
addMany: 200
stats: ready 200, delayed 1
bool(true)
reserved and acked: 200
healthz: 200, nodes 6, all up: true, persistence warned: true
-- a master killed during adds (replicas = 1)
acknowledged adds: many; refused while the cluster failed over: %s
bool(true)
lost: 0
bool(true)
bool(true)
healthz: 200 warn, down: 1 (the killed master)
-- bad input
cluster among shards         Dq\InvalidArgumentException(2): options['redis']: Redis servers "redis://127.0.0.1:6379/0,redis+cluster://%s: a cluster URL ("redis+cluster://127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d") must stand alone: a Redis Cluster spreads the keys itself, so it cannot be one shard among others
a node that is no host:port  Dq\InvalidArgumentException(2): options['redis']: Redis Cluster "redis+cluster://127.0.0.1:7000,nope:x": node "nope:x" is not host:port; expected redis+cluster://[user:password@]host:port,host:port[/?partitions=N]
partitions 0                 Dq\InvalidArgumentException(2): options['redis']: Redis Cluster "redis+cluster://127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d/?partitions=0": partitions "0" is invalid: expected a whole number from 1 to 1024
replicas 99                  Dq\InvalidArgumentException(2): options['replicas']: replicas 99 is invalid: expected a number of Redis replicas from 0 to 16
replicas "one"               Dq\InvalidArgumentException(2): options['replicas'] "one" is a string: expected a number of Redis replicas
a single server              Dq\InvalidArgumentException(2): cannot use redis+cluster://127.0.0.1:6379 as a Redis Cluster: its nodes run with cluster support disabled; a single server is named redis://host:port/db
dq.replicas=two: Dq\InvalidArgumentException: dq.replicas "two" is not a number of Redis replicas
