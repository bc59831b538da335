<?php
// Helpers for the FFI client's .phpt tests (php-tests/ffi/): examples/ffi/DqFfi.php over
// build/libdq.so, in a PHP without dq.so; dq.so itself only in subprocesses, to compare with.
require_once __DIR__ . '/../inc/dq.inc';
require_once dq_root() . '/examples/ffi/DqFfi.php';

/** For --SKIPIF--: prints "skip ..." when the FFI client cannot be tested here. */
function dq_ffi_skipif(): void
{
    if (!is_file(dq_root() . '/build/libdq.so')) {
        echo 'skip build/libdq.so is missing (make build)';
    } elseif (extension_loaded('dq')) {
        echo 'skip dq.so is loaded: these are tests of the FFI client without it';
    }
}

/**
 * Runs PHP code in a new `php -n` process with dq.so loaded (and peer extensions as in
 * scripts/php-tests.sh), after `require php-tests/inc/dq.inc`. $vars become variables of that
 * code. Returns what it printed (stdout, then stderr if any).
 */
function dq_ffi_ext_run(string $code, array $vars = []): string
{
    $root = dq_root();
    $script = tempnam(sys_get_temp_dir(), 'dq-ext-');
    $prelude = '<?php require ' . var_export("$root/php-tests/inc/dq.inc", true) . ";\n"
        . 'extract(' . var_export($vars, true) . ");\n";
    file_put_contents($script, $prelude . $code);
    $command = [PHP_BINARY, '-n', '-d', "extension=$root/build/dq.so", '-d', 'date.timezone=' . date_default_timezone_get()];
    foreach (['igbinary', 'redis', 'mbstring', 'sockets', 'amqp', 'pcntl', 'posix', 'mysqlnd', 'pdo', 'pdo_mysql', 'pdo_sqlite'] as $peer) {
        if (extension_loaded($peer) && is_file(ini_get('extension_dir') . "/$peer.so")) { // not those built in
            array_push($command, '-d', "extension=$peer");
        }
    }
    $command[] = $script;
    $process = proc_open($command, [0 => ['file', '/dev/null', 'r'], 1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes, null, ['DQ_ROOT' => $root] + getenv());
    $out = stream_get_contents($pipes[1]);
    $err = stream_get_contents($pipes[2]);
    fclose($pipes[1]);
    fclose($pipes[2]);
    $status = proc_close($process);
    unlink($script);
    return $out . ($err === '' ? '' : "[stderr] $err") . ($status === 0 ? '' : "[exit $status]\n");
}

/** Runs PHP code here, with $Client, $Producer, $Xa, $Outbox and $Inbox the FFI client's class names; returns what it printed. */
function dq_ffi_run(string $code, array $vars = []): string
{
    return (static function (string $__code, array $__vars): string {
        extract($__vars);
        $Client = DqFfi\Client::class;
        $Producer = DqFfi\Producer::class;
        $Xa = DqFfi\Xa::class;
        $Outbox = DqFfi\Outbox::class;
        $Inbox = DqFfi\Inbox::class;
        ob_start();
        try {
            eval($__code);
        } finally {
            $out = ob_get_clean();
        }
        return $out;
    })($code, $vars);
}

/**
 * Runs the same PHP code with the FFI client (here, dq_ffi_run) and with dq.so (dq_ffi_ext_run): in
 * the code, $Client, $Producer, $Xa, $Outbox and $Inbox are the class names (`new $Client([...])`). Returns both outputs.
 * @return array{ffi: string, ext: string}
 */
function dq_ffi_and_ext(string $code, array $vars = []): array
{
    return [
        'ffi' => dq_ffi_run($code, $vars),
        'ext' => dq_ffi_ext_run($code, $vars + ['Client' => 'Dq\Client', 'Producer' => 'Dq\Producer', 'Xa' => 'Dq\Xa', 'Outbox' => 'Dq\Outbox', 'Inbox' => 'Dq\Inbox']),
    ];
}

/** Prints $ffi, then whether $ext printed the same, and where not, both lines. */
function dq_ffi_show_same(array $outputs): void
{
    echo $outputs['ffi'];
    if ($outputs['ffi'] === $outputs['ext']) {
        echo "== the extension printed the same\n";
        return;
    }
    $ffi = explode("\n", $outputs['ffi']);
    $ext = explode("\n", $outputs['ext']);
    echo "!= the extension printed otherwise:\n";
    foreach (array_keys($ffi + $ext) as $i) {
        if (($ffi[$i] ?? null) !== ($ext[$i] ?? null)) {
            echo '  ffi: ', $ffi[$i] ?? '(none)', "\n  ext: ", $ext[$i] ?? '(none)', "\n";
        }
    }
}

/** Waits (up to $seconds) until $fn returns something other than null; returns that, or null. */
function dq_ffi_poll(callable $fn, float $seconds = 5.0): mixed
{
    $deadline = microtime(true) + $seconds;
    do {
        $result = $fn();
        if ($result !== null) {
            return $result;
        }
        usleep(20000);
    } while (microtime(true) < $deadline);
    return null;
}

/** php-amqplib's basic_get of $queue (auto-ack), polled until a message is there (up to 5 s). */
function dq_ffi_amqplib_get(PhpAmqpLib\Channel\AMQPChannel $channel, string $queue, float $seconds = 5.0): ?PhpAmqpLib\Message\AMQPMessage
{
    return dq_ffi_poll(fn () => $channel->basic_get($queue, true), $seconds);
}

/**
 * For the preload tests: a directory of the test's own (removed at shutdown) holding use.php,
 * a script that uses DqFfi without requiring it, and dq-ffi.h (`preload.php --header`, for ffi.preload).
 * preload.php also writes its header file there (sys_temp_dir).
 */
function dq_ffi_preload_dir(): string
{
    $dir = sys_get_temp_dir() . '/dq-ffi-preload-' . getmypid() . '-' . bin2hex(random_bytes(3));
    mkdir($dir);
    chmod($dir, 0777); // also for an unprivileged user
    register_shutdown_function(function () use ($dir) {
        array_map('unlink', glob("$dir/*"));
        rmdir($dir);
    });
    file_put_contents("$dir/use.php", <<<'PHP'
        <?php
        // Nothing required: DqFfi.php's classes must be there already.
        echo 'classes preloaded: ', var_export(class_exists('DqFfi\Client', false) && class_exists('Dq\UnknownTopicException', false), true), "\n";
        try {
            FFI::scope('dq');
            echo "scope dq: preloaded\n";
        } catch (FFI\Exception) {
            echo "scope dq: none (libdq.so is loaded in the request)\n";
        }
        $dq = new DqFfi\Client(['prefix' => $argv[1]]);
        $id = 'by-' . $argv[2];
        var_dump($dq->add('orders', ['id' => $id, 'body' => ['via' => $argv[2]], 'delay' => 60]), $dq->get('orders', $id)['body']);
        try {
            $dq->add('unregistered', ['id' => 'x']);
        } catch (Dq\UnknownTopicException $e) {
            echo get_class($e), '(', $e->getCode(), ")\n";
        }
        PHP);
    file_put_contents("$dir/dq-ffi.h", shell_exec(escapeshellarg(PHP_BINARY) . ' -n ' . escapeshellarg(dq_root() . '/examples/ffi/preload.php') . ' --header'));
    return $dir;
}

/**
 * Runs $dir/use.php (with $prefix and $label as arguments) in a PHP with ffi.enable=preload and
 * opcache preloading examples/ffi/preload.php, plus $ini, the command prefixed with $wrapper.
 * Prints how it exited, its output, and its stderr one line at a time.
 */
function dq_ffi_preload_run(string $dir, string $prefix, string $label, array $ini = [], array $wrapper = []): void
{
    $command = [...$wrapper, PHP_BINARY, '-n', '-d', 'extension=ffi', '-d', 'ffi.enable=preload', '-d', 'zend_extension=opcache',
        '-d', 'opcache.enable_cli=1', '-d', 'opcache.preload=' . dq_root() . '/examples/ffi/preload.php', '-d', "sys_temp_dir=$dir"];
    foreach ($ini as $name => $value) {
        array_push($command, '-d', "$name=$value");
    }
    array_push($command, "$dir/use.php", $prefix, $label);
    $process = proc_open($command, [0 => ['file', '/dev/null', 'r'], 1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes);
    $out = stream_get_contents($pipes[1]);
    $err = stream_get_contents($pipes[2]);
    fclose($pipes[1]);
    fclose($pipes[2]);
    echo "-- $label: exit ", proc_close($process), "\n", $out;
    foreach (array_filter(explode("\n", $err)) as $line) {
        echo '  stderr: ', preg_replace('~ see /\S+~', ' see preload.php', $line), "\n";
    }
}
