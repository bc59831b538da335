--TEST--
Dq\Xa under php-fpm (pm = static, 2 workers): 60 requests each commit a transaction over two databases; the connections to MySQL stay bounded (one per worker and database) and are the same ones across requests
--EXTENSIONS--
dq
pdo_mysql
--SKIPIF--
<?php
if (!is_executable('/usr/sbin/php-fpm8.2')) die('skip /usr/sbin/php-fpm8.2 not installed (package php8.2-fpm)');
if (!is_executable('/usr/bin/cgi-fcgi')) die('skip cgi-fcgi not installed (package libfcgi-bin)');
?>
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$dbs = dq_bank();
$dir = sys_get_temp_dir() . '/dq-fpm-xa-' . getmypid() . '-' . bin2hex(random_bytes(3));
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
php_admin_value[dq.mysql] = {$dbs->url('log')}
CONF);
$databases = var_export(dq_bank_databases($dbs), true);
file_put_contents("$dir/pay.php", <<<PHP
<?php
try {
    \$n = Dq\\Xa::run($databases, function (Dq\\Xa \$xa) {
        \$xa->execute('order', 'INSERT INTO t_user_orders (username, money) VALUES (?, ?)', ['alice', 1]);
        return \$xa->execute('finance', 'UPDATE t_user_account SET money = money - 1 WHERE username = ?', ['alice']);
    });
    echo getmypid(), ' ok ', \$n;
} catch (Throwable \$e) {
    echo getmypid(), ' ', get_class(\$e), ': ', \$e->getMessage();
}
PHP);
$command = ['/usr/sbin/php-fpm8.2', '-n', '-R', '-F', '-y', "$dir/php-fpm.conf", '-d', 'extension=' . dq_root() . '/build/dq.so'];
$fpm = proc_open($command, [0 => ['file', '/dev/null', 'r'], 1 => ['file', "$dir/fpm.out", 'w'], 2 => ['file', "$dir/fpm.out", 'a']], $pipes);
register_shutdown_function(function () use ($fpm, $dir) {
    if (is_resource($fpm)) {
        proc_terminate($fpm, 15);
        proc_close($fpm);
    }
    array_map('unlink', glob("$dir/*"));
    rmdir($dir);
});
$deadline = microtime(true) + 10;
while (!@fsockopen('127.0.0.1', $port) && microtime(true) < $deadline) {
    usleep(20000);
}

function request(int $port, string $script): string
{
    $env = ['SCRIPT_FILENAME' => $script, 'SCRIPT_NAME' => '/' . basename($script), 'REQUEST_METHOD' => 'GET',
        'QUERY_STRING' => '', 'SERVER_PROTOCOL' => 'HTTP/1.1', 'PATH' => getenv('PATH') ?: '/usr/bin:/bin'];
    $p = proc_open(['/usr/bin/cgi-fcgi', '-bind', '-connect', "127.0.0.1:$port"], [0 => ['file', '/dev/null', 'r'], 1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes, null, $env);
    $out = stream_get_contents($pipes[1]) . stream_get_contents($pipes[2]);
    proc_close($p);
    $parts = preg_split("/\r?\n\r?\n/", $out, 2);
    return $parts[1] ?? $out;
}

/** Ids of the server's connections to the test's databases. */
function connection_ids(TestDatabases $dbs): array
{
    $names = [$dbs->name('order'), $dbs->name('finance'), $dbs->name('log')];
    $ids = [];
    foreach ($dbs->pdo()->query('SHOW PROCESSLIST')->fetchAll(PDO::FETCH_ASSOC) as $row) {
        if (in_array($row['db'], $names, true)) {
            $ids[] = (int) $row['Id'];
        }
    }
    sort($ids);
    return $ids;
}

$ok = 0;
$pids = [];
$most = 0;
$after = [];
for ($i = 0; $i < 60; $i++) {
    $body = request($port, "$dir/pay.php");
    if (!preg_match('/^(\d+) ok 1$/', $body, $m)) {
        echo "request $i: $body\n";
        continue;
    }
    $ok++;
    $pids[$m[1]] = true;
    $ids = connection_ids($dbs);
    $most = max($most, count($ids));
    if ($i === 19 || $i === 59) {
        $after[$i] = $ids;
    }
}
echo "committed: $ok, workers: ", count($pids), "\n";
echo 'alice: ', $dbs->pdo('finance')->query("SELECT money FROM t_user_account WHERE username = 'alice'")->fetchColumn(), "\n";
echo 'at most one connection per worker and database (', count($pids) * 3, '): ', var_export($most <= count($pids) * 3, true), $most <= count($pids) * 3 ? '' : " ($most)", "\n";
echo 'the same connections after 20 and after 60 requests: ', var_export($after[19] === $after[59], true), "\n";
echo 'prepared: ', count($dbs->prepared()), "\n";
?>
--EXPECT--
committed: 60, workers: 2
alice: 440.00
at most one connection per worker and database (6): true
the same connections after 20 and after 60 requests: true
prepared: 0
