--TEST--
DqFfi\Client after a Redis restart: fails while Redis is down, then the same object works again by itself; a restart between two calls is invisible
--EXTENSIONS--
ffi
--SKIPIF--
<?php require __DIR__ . '/inc.php'; dq_ffi_skipif(); ?>
--FILE--
<?php
require __DIR__ . '/inc.php';
$redis = new TestRedis();
$gw = new TestGateway(dq_test_prefix('ffi-reconnect'), ['DQ_REDIS' => $redis->url()]);
$gw->keepKeys(); // the keys live in the private redis-server, which goes away with the test
$gw->topic('orders');
$dq = new DqFfi\Client(['prefix' => $gw->prefix, 'redis' => $redis->url(), 'timeout' => 1]);
var_dump($dq->add('orders', ['id' => 'o-1', 'delay' => 60]));

echo "-- Redis stopped\n";
$redis->stop();
foreach (['add' => fn () => $dq->add('orders', ['id' => 'o-2', 'delay' => 60]), 'get' => fn () => $dq->get('orders', 'o-1'), 'stats' => fn () => $dq->stats('orders')] as $name => $call) {
    [$e] = dq_timed($call);
    echo "$name: ", get_class($e), '(', $e->getCode(), ') names the server: ',
        var_export(str_contains($e->getMessage(), "127.0.0.1:{$redis->port}"), true), "\n";
}

echo "-- Redis started again (empty: the topic is registered again)\n";
$redis->start();
$gw->topic('orders');
foreach ([
    'add' => fn () => $dq->add('orders', ['id' => 'o-3', 'body' => 'back', 'delay' => 60]),
    'get' => fn () => $dq->get('orders', 'o-3')['body'],
    'stats' => fn () => $dq->stats('orders')['delayed'],
    'del' => fn () => $dq->del('orders', 'o-3'),
] as $name => $call) {
    [$result] = dq_timed($call);
    echo "$name: ", $result instanceof Throwable ? get_class($result) . ': ' . $result->getMessage() : json_encode($result), "\n";
}

echo "-- restarted between two calls, no failed call in between\n";
var_dump($dq->add('orders', ['id' => 'o-4', 'delay' => 60]));
$redis->stop();
$redis->start();
$gw->topic('orders');
foreach ([
    'add' => fn () => $dq->add('orders', ['id' => 'o-5', 'delay' => 60]),
    'addMany' => fn () => $dq->addMany('orders', [['id' => 'o-6', 'delay' => 60], ['id' => 'o-7', 'delay' => 60]]),
] as $name => $call) {
    [$result] = dq_timed($call);
    echo "$name: ", $result instanceof Throwable ? get_class($result) . ': ' . $result->getMessage() : json_encode($result), "\n";
    $redis->stop();
    $redis->start();
    $gw->topic('orders');
}
foreach ([
    'get' => fn () => $dq->get('orders', 'o-5'),
    'del' => fn () => $dq->del('orders', 'o-5'),
    'stats' => fn () => $dq->stats('orders'),
] as $name => $call) {
    [$result] = dq_timed($call);
    echo "$name: ", $result instanceof Throwable ? get_class($result) . ': ' . $result->getMessage() : json_encode($result), "\n";
    $redis->stop();
    $redis->start();
}
// A second client with the same settings (sharing the process's connection) after a restart.
$gw->topic('orders');
$other = new DqFfi\Client(['prefix' => $gw->prefix, 'redis' => $redis->url(), 'timeout' => 1]);
[$result] = dq_timed(fn () => $other->add('orders', ['id' => 'o-8', 'delay' => 60]));
echo "other client add: ", $result instanceof Throwable ? get_class($result) . ': ' . $result->getMessage() : json_encode($result), "\n";
?>
--EXPECT--
bool(true)
-- Redis stopped
add: Dq\ConnectionException(4) names the server: true
get: Dq\ConnectionException(4) names the server: true
stats: Dq\ConnectionException(4) names the server: true
-- Redis started again (empty: the topic is registered again)
add: true
get: "back"
stats: 1
del: true
-- restarted between two calls, no failed call in between
bool(true)
add: true
addMany: 2
get: null
del: false
stats: {"delayed":0,"ready":0,"inflight":0,"dead":0}
other client add: true
