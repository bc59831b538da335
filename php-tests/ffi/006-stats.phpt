--TEST--
DqFfi\Client::stats: counts per state (delayed, ready, inflight, dead); get, del and stats need no registered topic
--EXTENSIONS--
ffi
redis
--SKIPIF--
<?php require __DIR__ . '/inc.php'; dq_ffi_skipif(); ?>
--FILE--
<?php
require __DIR__ . '/inc.php';
$gw = new TestGateway(dq_test_prefix('ffi-stats'));
$gw->topic('orders');
$gw->topic('other');
$dq = new DqFfi\Client(['prefix' => $gw->prefix]);

var_dump($dq->stats('orders'));
for ($i = 0; $i < 5; $i++) {
    $dq->add('orders', ['id' => "later-$i", 'delay' => 60]);
}
for ($i = 0; $i < 3; $i++) {
    $dq->add('orders', ['id' => "now-$i", 'delay' => 0]);
}
$dq->add('orders', ['id' => 'past', 'fix_time' => '2020-01-01 00:00:00']);
$dq->add('other', ['id' => 'x', 'delay' => 60]);
echo "orders: ", json_encode($dq->stats('orders')), "\n";
echo "other: ", json_encode($dq->stats('other')), "\n";

// Messages the gateway's workers moved (simulated with phpredis on the documented keys).
$redis = dq_phpredis();
$keys = "{$gw->prefix}:{orders}";
$redis->zRem("$keys:delayed", 'later-0');
$redis->zAdd("$keys:inflight", (microtime(true) + 30) * 1000, 'later-0');
$redis->zRem("$keys:ready", 'now-0');
$redis->zAdd("$keys:dead", microtime(true) * 1000, 'now-0');
echo "orders: ", json_encode($dq->stats('orders')), "\n";
echo $dq->get('orders', 'later-0')['state'], ' ', $dq->get('orders', 'now-0')['state'], "\n";

// del removes in whatever state.
var_dump($dq->del('orders', 'later-0'), $dq->del('orders', 'now-0'), $dq->del('orders', 'later-1'), $dq->del('orders', 'now-1'));
echo "orders: ", json_encode($dq->stats('orders')), "\n";

// stats, get and del do not need a registered topic; a bad topic name is refused.
echo "unregistered: ", json_encode($dq->stats('never-registered')), "\n";
var_dump($dq->get('never-registered', 'x'), $dq->del('never-registered', 'x'));
try {
    $dq->stats('no spaces');
} catch (Dq\Exception $e) {
    dq_show($e);
}

// Types: every count is an int.
echo implode(' ', array_map('get_debug_type', $dq->stats('orders'))), "\n";
?>
--EXPECT--
array(4) {
  ["delayed"]=>
  int(0)
  ["ready"]=>
  int(0)
  ["inflight"]=>
  int(0)
  ["dead"]=>
  int(0)
}
orders: {"delayed":5,"ready":4,"inflight":0,"dead":0}
other: {"delayed":1,"ready":0,"inflight":0,"dead":0}
orders: {"delayed":4,"ready":3,"inflight":1,"dead":1}
inflight dead
bool(true)
bool(true)
bool(true)
bool(true)
orders: {"delayed":3,"ready":2,"inflight":0,"dead":0}
unregistered: {"delayed":0,"ready":0,"inflight":0,"dead":0}
NULL
bool(false)
Dq\InvalidArgumentException(2): topic "no spaces" is invalid: expected 1 to 128 characters of A-Z a-z 0-9 _ . : -
int int int int
