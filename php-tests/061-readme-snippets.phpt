--TEST--
README.md: every ```php block runs as written against the local servers (each in a prefix and vhost of its own; a worker block in the background, stopped by SIGTERM after the block that uses it: exit 0)
--EXTENSIONS--
dq
pdo_mysql
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$root = dq_root();
$readme = file_get_contents("$root/README.md");
preg_match_all('/^```php\n(.*?)^```$/ms', $readme, $found, PREG_OFFSET_CAPTURE);
$blocks = [];
foreach ($found[1] as [$code, $offset]) {
    $blocks[] = ['line' => substr_count($readme, "\n", 0, $offset) + 1, 'code' => $code];
}
echo count($blocks), " php blocks\n";

$tmp = sys_get_temp_dir() . '/' . dq_test_prefix('readme');
mkdir($tmp);
$workers = [];
// Whatever happens: workers stopped, files removed (vhosts: TestVhost, keys: TestGateway).
register_shutdown_function(function () use (&$workers, $tmp): void {
    foreach ($workers as $w) {
        if (is_resource($w)) {
            proc_terminate($w, 9);
            proc_close($w);
        }
    }
    array_map('unlink', glob("$tmp/*"));
    @rmdir($tmp);
});

/**
 * The command running $file with build/dq.so and PDO's MySQL driver (for the outbox's blocks),
 * the test's prefix and vhost as the ini defaults.
 */
function command(string $file, string $prefix, TestVhost $vhost, string $ini = ''): string
{
    $peers = '';
    foreach (['mysqlnd', 'pdo', 'pdo_mysql'] as $extension) {
        // Those built into PHP are there without asking.
        if (is_file(PHP_EXTENSION_DIR . "/$extension.so")) {
            $peers .= " -d extension=$extension";
        }
    }
    return 'exec ' . escapeshellarg(PHP_BINARY) . ' -n -d extension=' . escapeshellarg(dq_root() . '/build/dq.so') . $peers . $ini
        . ' -d dq.prefix=' . escapeshellarg($prefix) . ' -d dq.amqp=' . escapeshellarg($vhost->url())
        . ' -d date.timezone=UTC ' . escapeshellarg($file);
}

$gateway = $vhost = $worker = $workerOut = null;
foreach ($blocks as $i => ['line' => $line, 'code' => $code]) {
    $file = "$tmp/block-$line.php";
    file_put_contents($file, "<?php\n" . $code);
    // A prefix and a vhost per block; a worker's are shared with the block after it.
    if ($worker === null) {
        $gateway = new TestGateway(dq_test_prefix("readme-$line"));
        $vhost = new TestVhost("readme-$line");
    }
    // Topics the block uses with a Dq\Client are registered: pull topics where it reserves,
    // else paused (nothing is delivered).
    preg_match_all('/->(?:reserve|work)\(\'([^\']+)\'/', $code, $pulled);
    preg_match_all('/->(?:add|addMany|get|del|stats)\(\'([^\']+)\'/', $code, $topics);
    foreach (array_unique($topics[1]) as $topic) {
        $gateway->topic($topic, in_array($topic, $pulled[1], true) ? ['mode' => 'pull'] : ['status' => 'paused']);
    }
    $first = strtok($code, "\n");
    if (str_contains($first, 'in its own process')) {
        // A worker: started, and ready once it consumes (bounded); it runs until stopped.
        $workerOut = "$file.out";
        $worker = proc_open(command($file, $gateway->prefix, $vhost), [['file', '/dev/null', 'r'], ['file', $workerOut, 'w'], ['file', $workerOut, 'a']], $pipes);
        $workers[] = $worker;
        $deadline = microtime(true) + 15;
        while (microtime(true) < $deadline && proc_get_status($worker)['running']
            && trim(dq_rabbitmqctl(['list_consumers', '-p', $vhost->name, '--no-table-headers', 'queue_name'])) === '') {
            usleep(100000);
        }
        printf("block at line %d (worker): %s\n", $line, proc_get_status($worker)['running'] ? 'consuming' : 'exited: ' . file_get_contents($workerOut));
        continue;
    }
    // A block on MySQL databases (db_order, db_finance: examples/xa's schema; named in mysql://
    // URLs or in PDO's DSNs) gets databases of its own under those names' places, and a
    // decision log of its own (dq.mysql).
    $ini = '';
    $databases = null;
    if (str_contains($code, 'mysql://') || str_contains($code, 'dbname=db_')) {
        $databases = new TestDatabases(['order', 'finance', 'log']);
        $schema = file_get_contents("$root/examples/xa/schema.sql");
        $databases->pdo('order')->exec(preg_replace('/^.*?-- db_order\n(.*?)-- db_finance.*$/s', '$1', $schema));
        $databases->pdo('finance')->exec(preg_replace('/^.*?-- db_finance\n/s', '', $schema));
        $databases->pdo('finance')->exec("INSERT INTO t_user_account VALUES ('alice', 500.00)");
        $code = str_replace(['/db_order', '/db_finance', 'dbname=db_order', 'dbname=db_finance'], [
            '/' . $databases->name('order'), '/' . $databases->name('finance'),
            'dbname=' . $databases->name('order'), 'dbname=' . $databases->name('finance'),
        ], $code);
        file_put_contents($file, "<?php\n" . $code);
        $ini = ' -d dq.mysql=' . escapeshellarg($databases->url('log'));
    }
    // Run it, bounded: 30 s at most.
    $process = proc_open(command($file, $gateway->prefix, $vhost, $ini), [['file', '/dev/null', 'r'], ['file', "$file.out", 'w'], ['file', "$file.err", 'w']], $pipes);
    $deadline = microtime(true) + 30;
    while (($status = proc_get_status($process))['running'] && microtime(true) < $deadline) {
        usleep(20000);
    }
    if ($status['running']) {
        proc_terminate($process, 9);
        $exit = 'killed after 30 s';
    } else {
        $exit = 'exit ' . $status['exitcode'];
    }
    proc_close($process);
    printf("block at line %d: %s\n", $line, $exit);
    foreach (array_filter(explode("\n", file_get_contents("$file.out") . file_get_contents("$file.err")), 'strlen') as $out) {
        echo "  $out\n";
    }
    if ($worker !== null) {
        // The worker served the block: it is still running (no error), and stops on SIGTERM
        // with exit code 0 (bounded: 10 s).
        $running = proc_get_status($worker)['running'];
        proc_terminate($worker, 15);
        $deadline = microtime(true) + 10;
        while (($status = proc_get_status($worker))['running'] && microtime(true) < $deadline) {
            usleep(20000);
        }
        $ended = $status['running'] ? 'still running' : ($status['signaled'] ? 'signal ' . $status['termsig'] : 'exit ' . $status['exitcode']);
        proc_close($worker);
        $said = trim(file_get_contents($workerOut));
        printf("  worker still running: %s, after SIGTERM: %s%s\n", var_export($running, true), $ended, $said === '' ? '' : ", it said: $said");
        $worker = null;
    }
}
?>
--EXPECTF--
7 php blocks
block at line %d: exit 0
block at line %d: exit 0
  rendering invoice 8
  inv-7 attempt 1
block at line %d: exit 0
  order.paid {"order":42}
  order.a x
  order.b {"y":1}
block at line %d (worker): consuming
block at line %d: exit 0
  {"ok":true}
  worker still running: true, after SIGTERM: exit 0
block at line %d: exit 0
  order 1 paid
block at line %d: exit 0
  delivery 1: applied
  delivery 2: a copy, skipped
