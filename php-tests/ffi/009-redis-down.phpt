--TEST--
DqFfi\Client with Redis down or silent: Dq\ConnectionException (code 4) or Dq\TimeoutException (5) naming the server, as dq.so says it
--EXTENSIONS--
ffi
--SKIPIF--
<?php require __DIR__ . '/inc.php'; dq_ffi_skipif(); ?>
--FILE--
<?php
require __DIR__ . '/inc.php';
$port = dq_closed_port();
// Accepts TCP connections (into its backlog) but never answers.
$silent = stream_socket_server('tcp://127.0.0.1:0');
$code = <<<'PHP'
    $dq = new $Client(['redis' => "127.0.0.1:$port", 'timeout' => 0.5, 'prefix' => $prefix]);
    foreach ([
        'add' => fn () => $dq->add('orders', ['id' => 'o-1', 'delay' => 5]),
        'addMany' => fn () => $dq->addMany('orders', [['id' => 'o-1'], ['id' => 'o-2']]),
        'get' => fn () => $dq->get('orders', 'o-1'),
        'del' => fn () => $dq->del('orders', 'o-1'),
        'stats' => fn () => $dq->stats('orders'),
        // A bad message is refused as such before anything is sent.
        'bad add' => fn () => $dq->add('orders', ['id' => 'o-1', 'delay' => -1]),
    ] as $name => $call) {
        [$e] = dq_timed($call);
        echo str_pad($name, 8);
        dq_show($e);
        echo '        Dq\Exception: ', var_export($e instanceof Dq\Exception && $e instanceof RuntimeException, true), "\n";
    }
    $dq = new $Client(['redis' => "redis://$silent/0", 'timeout' => 0.4, 'prefix' => $prefix]);
    foreach (['add' => fn () => $dq->add('orders', ['id' => 'o-1', 'delay' => 5]), 'get' => fn () => $dq->get('orders', 'o-1'), 'stats' => fn () => $dq->stats('orders')] as $name => $call) {
        [$e] = dq_timed($call);
        echo "silent $name: connection or timeout: ", var_export($e instanceof Dq\ConnectionException || $e instanceof Dq\TimeoutException, true),
            ', names the server: ', var_export(str_contains($e->getMessage(), "redis://$silent/0"), true), "\n";
    }
    PHP;
dq_ffi_show_same(dq_ffi_and_ext($code, ['port' => $port, 'silent' => stream_socket_get_name($silent, false), 'prefix' => dq_test_prefix('ffi-redis-down')]));
fclose($silent);
?>
--EXPECTF--
add     Dq\ConnectionException(4): cannot connect to Redis at redis://127.0.0.1:%d/0: %s
        Dq\Exception: true
addMany Dq\ConnectionException(4): cannot connect to Redis at redis://127.0.0.1:%d/0: %s
        Dq\Exception: true
get     Dq\ConnectionException(4): cannot connect to Redis at redis://127.0.0.1:%d/0: %s
        Dq\Exception: true
del     Dq\ConnectionException(4): cannot connect to Redis at redis://127.0.0.1:%d/0: %s
        Dq\Exception: true
stats   Dq\ConnectionException(4): cannot connect to Redis at redis://127.0.0.1:%d/0: %s
        Dq\Exception: true
bad add Dq\InvalidArgumentException(2): data: delay -1 is out of range: expected seconds from 0 to 31622400 (366 days)
        Dq\Exception: true
silent add: connection or timeout: true, names the server: true
silent get: connection or timeout: true, names the server: true
silent stats: connection or timeout: true, names the server: true
== the extension printed the same
