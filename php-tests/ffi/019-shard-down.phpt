--TEST--
DqFfi\Client with one of two shards down: only operations that need that shard fail, with Dq\ConnectionException naming it
--EXTENSIONS--
ffi
--SKIPIF--
<?php require __DIR__ . '/inc.php'; dq_ffi_skipif(); ?>
--FILE--
<?php
require __DIR__ . '/inc.php';
$gw = new TestGateway(dq_test_prefix('ffi-shard-down'));
$gw->topic('orders');
$port = dq_closed_port();
$show = function (Throwable $e) use ($port) {
    echo get_class($e), '(', $e->getCode(), '): ', str_replace(":$port/", ':DEAD/', $e->getMessage()), "\n";
};
$dq = new DqFfi\Client(['prefix' => $gw->prefix, 'redis' => ['redis://127.0.0.1:6379/0', "127.0.0.1:$port"], 'timeout' => 0.5]);

$stored = $refused = [];
for ($i = 0; $i < 20; $i++) {
    [$result] = dq_timed(fn () => $dq->add('orders', ['id' => "o-$i", 'body' => $i, 'delay' => 60]));
    if ($result === true) {
        $stored[] = "o-$i";
    } elseif ($result instanceof Dq\ConnectionException && str_contains($result->getMessage(), "redis://127.0.0.1:$port/0")) {
        $refused[] = "o-$i";
    } else {
        echo "o-$i: unexpected ", $result instanceof Throwable ? get_class($result) . ': ' . $result->getMessage() : var_export($result, true), "\n";
    }
}
echo "some stored on the live shard: ", var_export(count($stored) >= 3, true), "\n";
echo "the others refused, naming the dead shard: ", var_export(count($refused) >= 3 && count($stored) + count($refused) === 20, true), "\n";
$first = $dq->get('orders', $stored[0]);
echo "get from the live shard: ", $first['id'] === $stored[0] ? 'ok' : 'wrong', "\n";
var_dump($dq->del('orders', $stored[1]));
[$e] = dq_timed(fn () => $dq->get('orders', $refused[0]));
$show($e);
[$e] = dq_timed(fn () => $dq->del('orders', $refused[0]));
$show($e);
// stats needs every shard.
[$e] = dq_timed(fn () => $dq->stats('orders'));
$show($e);
// addMany: the live shard's share is stored, the error says how many.
[$e] = dq_timed(fn () => $dq->addMany('orders', [['id' => $stored[2], 'delay' => 60], ['id' => $refused[1], 'delay' => 60]]));
$show($e);
// The live shard alone agrees.
$live = new DqFfi\Client(['prefix' => $gw->prefix]);
var_dump($live->stats('orders')['delayed'] === count($stored) - 1);
?>
--EXPECTF--
some stored on the live shard: true
the others refused, naming the dead shard: true
get from the live shard: ok
bool(true)
Dq\ConnectionException(4): cannot connect to Redis at redis://127.0.0.1:DEAD/0: %s
Dq\ConnectionException(4): cannot connect to Redis at redis://127.0.0.1:DEAD/0: %s
Dq\ConnectionException(4): cannot connect to Redis at redis://127.0.0.1:DEAD/0: %s
Dq\ConnectionException(4): cannot connect to Redis at redis://127.0.0.1:DEAD/0: %s (1 of 2 messages were stored; adding them again is safe)
bool(true)
