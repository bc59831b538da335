--TEST--
dq.so under php-fpm (pm = static, 2 workers): 40 requests add 40 messages; each worker keeps one Redis connection across requests
--EXTENSIONS--
dq
redis
--SKIPIF--
<?php
if (!is_executable('/usr/sbin/php-fpm8.2')) die('skip /usr/sbin/php-fpm8.2 not installed (package php8.2-fpm)');
if (!is_executable('/usr/bin/cgi-fcgi')) die('skip cgi-fcgi not installed (package libfcgi-bin)');
if (!is_dir('/proc/self/fd')) die('skip needs /proc');
?>
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$gw = new TestGateway(dq_test_prefix('fpm'));
$gw->topic('orders');

// A private php-fpm: own config, pid file, log and port; dq.prefix given in the pool config.
$dir = sys_get_temp_dir() . '/dq-fpm-' . getmypid() . '-' . bin2hex(random_bytes(3));
mkdir($dir);
$port = dq_closed_port();
file_put_contents("$dir/php-fpm.conf", <<<CONF
[global]
error_log = $dir/fpm.log
pid = $dir/fpm.pid
daemonize = no
[www]
listen = 127.0.0.1:$port
pm = static
pm.max_children = 2
clear_env = no
catch_workers_output = yes
php_admin_value[dq.prefix] = {$gw->prefix}
php_admin_value[dq.timeout] = 2
CONF);
file_put_contents("$dir/add.php", <<<'PHP'
<?php
try {
    $dq = new Dq\Client();
    $ok = $dq->add('orders', ['id' => $_GET['id'], 'body' => ['pid' => getmypid()], 'delay' => 60]);
    echo getmypid(), ' ', $ok ? 'ok' : 'false', ' ', class_exists('DqClient') ? 'alias' : 'no-alias';
} catch (Throwable $e) {
    echo getmypid(), ' ', get_class($e), ': ', $e->getMessage();
}
PHP);
$extDir = ini_get('extension_dir');
$command = ['/usr/sbin/php-fpm8.2', '-n', '-R', '-F', '-y', "$dir/php-fpm.conf", '-d', 'extension=' . dq_root() . '/build/dq.so'];
if (is_file("$extDir/opcache.so")) {
    array_push($command, '-d', "zend_extension=$extDir/opcache.so", '-d', 'opcache.enable=1');
}
$fpm = proc_open($command, [0 => ['file', '/dev/null', 'r'], 1 => ['file', "$dir/fpm.out", 'w'], 2 => ['file', "$dir/fpm.out", 'a']], $pipes);
$master = proc_get_status($fpm)['pid'];
register_shutdown_function(function () use ($fpm, $dir) {
    if (is_resource($fpm)) {
        proc_terminate($fpm, 15);
        proc_close($fpm);
    }
    array_map('unlink', glob("$dir/*"));
    rmdir($dir);
});

/** The master's children (the workers), from /proc. */
function workers(int $master): array
{
    $children = @file_get_contents("/proc/$master/task/$master/children");
    $pids = array_map('intval', preg_split('/\s+/', trim((string) $children), -1, PREG_SPLIT_NO_EMPTY));
    sort($pids);
    return $pids;
}
$deadline = microtime(true) + 10;
while ((count(workers($master)) < 2 || !@fsockopen('127.0.0.1', $port)) && microtime(true) < $deadline) {
    usleep(20000);
}
$workers = workers($master);
echo "workers: ", count($workers), "\n";

/** One FastCGI request with cgi-fcgi; returns the response body. */
function request(int $port, string $script, string $query): string
{
    $env = ['SCRIPT_FILENAME' => $script, 'SCRIPT_NAME' => '/' . basename($script), 'REQUEST_METHOD' => 'GET',
        'QUERY_STRING' => $query, 'SERVER_PROTOCOL' => 'HTTP/1.1', 'PATH' => getenv('PATH') ?: '/usr/bin:/bin'];
    $p = proc_open(['/usr/bin/cgi-fcgi', '-bind', '-connect', "127.0.0.1:$port"], [0 => ['file', '/dev/null', 'r'], 1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes, null, $env);
    $out = stream_get_contents($pipes[1]) . stream_get_contents($pipes[2]);
    proc_close($p);
    $parts = preg_split("/\r?\n\r?\n/", $out, 2);
    return $parts[1] ?? $out;
}

/** Redis connections named dq:<pid>, as [pid => [CLIENT LIST id, ...]]. */
function named_connections(Redis $redis): array
{
    $byPid = [];
    foreach (explode("\n", trim($redis->rawCommand('CLIENT', 'LIST'))) as $line) {
        if (preg_match('/\bid=(\d+)\b.*\bname=dq:(\d+)\s/', $line, $m)) {
            $byPid[(int) $m[2]][] = (int) $m[1];
        }
    }
    return $byPid;
}

/** Local ports of $pid's TCP connections to 127.0.0.1:6379, from /proc (independent of names). */
function redis_sockets(int $pid): array
{
    $inodes = [];
    foreach (glob("/proc/$pid/fd/*") ?: [] as $fd) {
        if (preg_match('/^socket:\[(\d+)\]$/', (string) @readlink($fd), $m)) {
            $inodes[$m[1]] = true;
        }
    }
    $ports = [];
    foreach (array_slice(file('/proc/net/tcp') ?: [], 1) as $line) {
        $f = preg_split('/\s+/', trim($line));
        // local rem state ... inode (field 9); 0100007F:18EB is 127.0.0.1:6379, 01 is ESTABLISHED
        if ($f[2] === '0100007F:18EB' && $f[3] === '01' && isset($inodes[$f[9]])) {
            $ports[] = hexdec(explode(':', $f[1])[1]);
        }
    }
    sort($ports);
    return $ports;
}

$redis = dq_phpredis();
$responses = ['ok' => 0];
$served = [];
$firstId = $firstSockets = [];
$sameId = $sameSocket = $onePerWorker = true;
for ($i = 0; $i < 40; $i++) {
    $body = request($port, "$dir/add.php", "id=req-$i");
    if (!preg_match('/^(\d+) ok alias$/', $body, $m)) {
        echo "request $i: $body\n";
        continue;
    }
    $responses['ok']++;
    $pid = (int) $m[1];
    $served[$pid] = true;
    $named = named_connections($redis)[$pid] ?? [];
    $sockets = redis_sockets($pid);
    $onePerWorker = $onePerWorker && count($named) === 1 && count($sockets) === 1;
    $firstId[$pid] ??= $named;
    $firstSockets[$pid] ??= $sockets;
    $sameId = $sameId && $named === $firstId[$pid];
    $sameSocket = $sameSocket && $sockets === $firstSockets[$pid];
}
echo "responses ok: {$responses['ok']}\n";
echo "served by the workers: ", var_export(count($served) >= 1 && !array_diff(array_keys($served), $workers), true), "\n";

$dq = new Dq\Client(['prefix' => $gw->prefix]);
$found = 0;
for ($i = 0; $i < 40; $i++) {
    $found += $dq->get('orders', "req-$i") !== null ? 1 : 0;
}
echo "messages stored: $found, stats: ", $dq->stats('orders')['delayed'], "\n";

$named = named_connections($redis);
$fpmNamed = array_intersect_key($named, array_flip($workers));
$count = array_sum(array_map('count', $fpmNamed));
echo "connections named dq:<worker pid>: at most 2: ", var_export($count <= 2, true), ", one per worker that served: ", var_export($count === count($served), true), "\n";
echo "none named dq:<master pid>: ", var_export(!isset($named[$master]), true), "\n";
echo "one connection per worker: ", var_export($onePerWorker, true), "\n";
echo "same connection across requests (CLIENT LIST id): ", var_export($sameId, true), "\n";
echo "same socket across requests (/proc): ", var_export($sameSocket && $firstSockets !== [], true), "\n";

proc_terminate($fpm, 15);
$stopped = proc_close($fpm);
if ($responses['ok'] !== 40) {
    echo file_get_contents("$dir/fpm.log");
}
?>
--EXPECT--
workers: 2
responses ok: 40
served by the workers: true
messages stored: 40, stats: 40
connections named dq:<worker pid>: at most 2: true, one per worker that served: true
none named dq:<master pid>: true
one connection per worker: true
same connection across requests (CLIENT LIST id): true
same socket across requests (/proc): true
