--TEST--
DqFfi\Client::addMany: 1000 items over two shards, every item checked before any is stored
--EXTENSIONS--
ffi
redis
--SKIPIF--
<?php require __DIR__ . '/inc.php'; dq_ffi_skipif(); ?>
--FILE--
<?php
require __DIR__ . '/inc.php';
$shards = ['redis://127.0.0.1:6379/14', 'redis://127.0.0.1:6379/15'];
$gw = new TestGateway(dq_test_prefix('ffi-add-many'), ['DQ_REDIS' => implode(',', $shards)]);
register_shutdown_function(function () use ($gw) {
    $gw->stop();
    dq_cleanup_prefix($gw->prefix, db: 14);
    dq_cleanup_prefix($gw->prefix, db: 15);
});
$gw->topic('orders');
$dq = new DqFfi\Client(['prefix' => $gw->prefix, 'redis' => $shards]);

$items = [];
for ($i = 0; $i < 1000; $i++) {
    $items[] = ['id' => "o-$i", 'body' => ['n' => $i], 'delay' => 60 + $i];
}
var_dump($dq->addMany('orders', $items));
var_dump($dq->stats('orders'));

// Both databases hold some of them, together all of them, each body once.
$counts = [];
foreach ([14, 15] as $db) {
    $redis = dq_phpredis($db);
    $counts[$db] = $redis->zCard("{$gw->prefix}:{orders}:delayed");
    echo "db $db holds some: ", var_export($counts[$db] > 100, true), ", bodies match: ", var_export($redis->hLen("{$gw->prefix}:{orders}:body") === $counts[$db], true), "\n";
}
echo "together: ", array_sum($counts), "\n";
$wrong = 0;
foreach ([0, 1, 2, 3, 499, 998, 999] as $i) {
    $got = $dq->get('orders', "o-$i");
    $wrong += ($got['body'] !== ['n' => $i] || $got['state'] !== 'delayed') ? 1 : 0;
}
echo "read back: ", $wrong === 0 ? 'ok' : "$wrong wrong", "\n";

// A bad item anywhere: nothing is stored, the error names the item.
$new = [];
for ($i = 0; $i < 10; $i++) {
    $new[] = ['id' => "n-$i", 'body' => $i];
}
foreach ([
    'delay as string at 3' => array_replace($new, [3 => ['id' => 'n-3', 'delay' => '5']]),
    'no id at 3' => array_replace($new, [3 => ['body' => 'x']]),
    'typo at 3' => array_replace($new, [3 => ['id' => 'n-3', 'fixtime' => 1]]),
    'not an array at 3' => array_replace($new, [3 => null]),
    'bad last item' => array_replace($new, [9 => ['id' => "n\n9"]]),
    'string keys' => ['first' => ['id' => 'k-1'], 'second' => ['id' => 'k-2', 'delay' => -5]],
] as $what => $list) {
    try {
        $dq->addMany('orders', $list);
        echo "$what: stored\n";
    } catch (Dq\Exception $e) {
        echo "$what: ";
        dq_show($e);
    }
}
try {
    (new DqFfi\Client(['prefix' => $gw->prefix, 'redis' => $shards, 'body_limit' => 100]))
        ->addMany('orders', array_replace($new, [3 => ['id' => 'n-3', 'body' => str_repeat('x', 200)]]));
} catch (Dq\Exception $e) {
    dq_show($e);
}
echo "after the refusals: ", json_encode($dq->stats('orders')), "\n";
var_dump($dq->get('orders', 'n-0'), $dq->get('orders', 'k-1'));

// An unknown topic: nothing stored either.
try {
    $dq->addMany('unregistered', $new);
} catch (Dq\Exception $e) {
    echo get_class($e), '(', $e->getCode(), ")\n";
}
echo json_encode($dq->stats('unregistered')), "\n";

// Empty list: 0, nothing to do. A good list after the refusals: all of it.
var_dump($dq->addMany('orders', []));
var_dump($dq->addMany('orders', $new));
echo json_encode($dq->stats('orders')), "\n";
?>
--EXPECTF--
int(1000)
array(4) {
  ["delayed"]=>
  int(1000)
  ["ready"]=>
  int(0)
  ["inflight"]=>
  int(0)
  ["dead"]=>
  int(0)
}
db 14 holds some: true, bodies match: true
db 15 holds some: true, bodies match: true
together: 1000
read back: ok
delay as string at 3: Dq\InvalidArgumentException(2): items[3]: delay "5" is a string: expected a number of seconds from 0 to 31622400
no id at 3: Dq\InvalidArgumentException(2): items[3]: id is missing: %s
typo at 3: Dq\InvalidArgumentException(2): items[3]: unknown field "fixtime": did you mean "fix_time"?%s
not an array at 3: Dq\InvalidArgumentException(2): items[3] %s: expected an array with id, body and delay or fix_time
bad last item: Dq\InvalidArgumentException(2): items[9]: id "n\n9" contains a control character
string keys: Dq\InvalidArgumentException(2): items["second"]: delay -5 is out of range: %s
Dq\InvalidArgumentException(2): items[3]: body is 202 bytes of JSON: the limit is 100 bytes
after the refusals: {"delayed":1000,"ready":0,"inflight":0,"dead":0}
NULL
NULL
Dq\UnknownTopicException(3)
{"delayed":0,"ready":0,"inflight":0,"dead":0}
int(0)
int(10)
{"delayed":1000,"ready":10,"inflight":0,"dead":0}
