--TEST--
Dq\Client with Redis down: Dq\ConnectionException (code 4) naming the server, within the timeout; a server that never answers does not hang
--EXTENSIONS--
dq
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$prefix = dq_test_prefix('redis-down');

// Nothing listens: refused at once.
$port = dq_closed_port();
$dq = new Dq\Client(['redis' => "127.0.0.1:$port", 'timeout' => 0.5, 'prefix' => $prefix]);
$calls = [
    'add' => fn () => $dq->add('orders', ['id' => 'o-1', 'delay' => 5]),
    'addMany' => fn () => $dq->addMany('orders', [['id' => 'o-1'], ['id' => 'o-2']]),
    'get' => fn () => $dq->get('orders', 'o-1'),
    'del' => fn () => $dq->del('orders', 'o-1'),
    'stats' => fn () => $dq->stats('orders'),
];
foreach ($calls as $name => $call) {
    [$e, $elapsed] = dq_timed($call);
    echo str_pad($name, 8);
    dq_show($e);
    echo "        names the server: ", var_export(str_contains($e->getMessage(), "redis://127.0.0.1:$port/0"), true),
        ", Dq\\Exception: ", var_export($e instanceof Dq\Exception && $e instanceof RuntimeException, true),
        ", under 2 s: ", var_export($elapsed < 2, true), "\n";
}
// A bad message is still refused as such before anything is sent.
[$e] = dq_timed(fn () => $dq->add('orders', ['id' => 'o-1', 'delay' => -1]));
dq_show($e);

// A server that accepts TCP connections but never answers: fails within the timeout (plus
// scheduling slack), not a multiple of it.
$silent = stream_socket_server('tcp://127.0.0.1:0');
$address = stream_socket_get_name($silent, false);
$dq = new Dq\Client(['redis' => "redis://$address/0", 'timeout' => 0.4, 'prefix' => $prefix]);
foreach (['add' => fn () => $dq->add('orders', ['id' => 'o-1', 'delay' => 5]), 'get' => fn () => $dq->get('orders', 'o-1'), 'stats' => fn () => $dq->stats('orders')] as $name => $call) {
    [$e, $elapsed] = dq_timed($call);
    echo str_pad($name, 8), get_class($e), ' (', $e->getCode(), ")\n";
    echo "        connection or timeout: ", var_export($e instanceof Dq\ConnectionException || $e instanceof Dq\TimeoutException, true),
        ", names the server: ", var_export(str_contains($e->getMessage(), "redis://$address/0"), true),
        ", 0.4 s timeout kept: ", $elapsed > 0.35 && $elapsed < 0.7 ? 'true' : sprintf('no, %.3f s', $elapsed), "\n";
}
fclose($silent);

// The default timeout (dq.timeout, 3 s) also bounds a silent server; ini_set applies to new clients.
ini_set('dq.timeout', '0.3');
$silent = stream_socket_server('tcp://127.0.0.1:0');
$address = stream_socket_get_name($silent, false);
$dq = new Dq\Client(['redis' => "redis://$address/0", 'prefix' => $prefix]);
[$e, $elapsed] = dq_timed(fn () => $dq->get('orders', 'o-1'));
echo "dq.timeout 0.3: ", $e instanceof Dq\Exception && $elapsed > 0.25 && $elapsed < 0.6 ? 'kept' : sprintf('no, %.3f s', $elapsed), "\n";
?>
--EXPECTF--
add     Dq\ConnectionException(4): cannot connect to Redis at redis://127.0.0.1:%d/0: %s
        names the server: true, Dq\Exception: true, under 2 s: true
addMany Dq\ConnectionException(4): cannot connect to Redis at redis://127.0.0.1:%d/0: %s
        names the server: true, Dq\Exception: true, under 2 s: true
get     Dq\ConnectionException(4): cannot connect to Redis at redis://127.0.0.1:%d/0: %s
        names the server: true, Dq\Exception: true, under 2 s: true
del     Dq\ConnectionException(4): cannot connect to Redis at redis://127.0.0.1:%d/0: %s
        names the server: true, Dq\Exception: true, under 2 s: true
stats   Dq\ConnectionException(4): cannot connect to Redis at redis://127.0.0.1:%d/0: %s
        names the server: true, Dq\Exception: true, under 2 s: true
Dq\InvalidArgumentException(2): data: delay -1 is out of range: %s
add     Dq\%sException (%d)
        connection or timeout: true, names the server: true, 0.4 s timeout kept: true
get     Dq\%sException (%d)
        connection or timeout: true, names the server: true, 0.4 s timeout kept: true
stats   Dq\%sException (%d)
        connection or timeout: true, names the server: true, 0.4 s timeout kept: true
dq.timeout 0.3: kept
