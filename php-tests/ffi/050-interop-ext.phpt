--TEST--
DqFfi\Client and dq.so on the same queue: what one adds the other reads, with the same JSON (stored text included)
--EXTENSIONS--
ffi
redis
--SKIPIF--
<?php require __DIR__ . '/inc.php'; dq_ffi_skipif(); ?>
--FILE--
<?php
require __DIR__ . '/inc.php';
$gw = new TestGateway(dq_test_prefix('ffi-interop-ext'));
$gw->topic('orders', ['delay' => 45]);
$dq = new DqFfi\Client(['prefix' => $gw->prefix]);
$bodies = [
    'object' => ['amount' => 12.5, 'items' => [1, 2, 3], 'note' => "naïve ✓ \"q\" a/b \\ \t", 'ok' => true, 'none' => null, 'empty' => [], 'obj' => ['k' => ['z' => 1, 'a' => 2]]],
    'numbers' => [0, -1, PHP_INT_MAX, PHP_INT_MIN, 1.0, 0.1, -0.5, 1e100, 2.5e-10],
    'string' => 'just text',
    'json in a string' => '{"a":1}',
    'int' => 42,
    'null' => null,
    'false' => false,
    'int keys' => [3 => 'c', 1 => 'a'],
];
$n = 0;
$ids = [];
foreach ($bodies as $what => $body) {
    $ids[$what] = 'f-' . $n++;
    $dq->add('orders', ['id' => $ids[$what], 'body' => $body, 'delay' => 60 + $n]);
}
$dq->add('orders', ['id' => 'f-default']);
$fix = gmdate('Y-m-d 07:08:09', time() + 30 * 86400);
date_default_timezone_set('Asia/Shanghai');
$dq->add('orders', ['id' => 'f-fix', 'fix_time' => $fix]);
date_default_timezone_set('UTC');
$dq->addMany('orders', [['id' => 'f-many-1', 'body' => ['m' => 1], 'delay' => 30], ['id' => 'f-many-2', 'body' => 'two', 'delay' => 30]]);
$all = [...array_values($ids), 'f-default', 'f-fix', 'f-many-1', 'f-many-2'];

echo "-- added through FFI, read by dq.so\n";
$code = <<<'PHP'
    $dq = new Dq\Client(['prefix' => $prefix]);
    $got = [];
    foreach ($ids as $id) {
        $got[$id] = $dq->get('orders', $id);
    }
    echo json_encode(['got' => $got, 'stats' => $dq->stats('orders')], JSON_PRESERVE_ZERO_FRACTION);
    PHP;
$ext = json_decode(dq_ffi_ext_run($code, ['prefix' => $gw->prefix, 'ids' => $all]), true);
$mine = [];
foreach ($all as $id) {
    $mine[$id] = $dq->get('orders', $id);
}
foreach ($all as $id) {
    echo str_pad($id, 10), ' ', json_encode($ext['got'][$id], JSON_PRESERVE_ZERO_FRACTION) === json_encode($mine[$id], JSON_PRESERVE_ZERO_FRACTION) ? 'same' : 'DIFFERENT: ' . json_encode($ext['got'][$id]) . ' vs ' . json_encode($mine[$id]), "\n";
}
foreach ($bodies as $what => $body) {
    echo "$what: ", var_export($mine[$ids[$what]]['body'] === $body, true), "\n";
}
echo 'default delay 45 s: ', var_export(abs($mine['f-default']['due_at'] - microtime(true) - 45) < 5, true), "\n";
echo 'fix_time in Shanghai: ', var_export($mine['f-fix']['due_at'] === (float) (new DateTime($fix, new DateTimeZone('Asia/Shanghai')))->getTimestamp(), true), "\n";
echo 'stats: ', json_encode($ext['stats']), ' ', var_export($ext['stats'] === $dq->stats('orders'), true), "\n";

echo "-- added by dq.so (the same bodies), read through FFI\n";
$code = <<<'PHP'
    $dq = new Dq\Client(['prefix' => $prefix]);
    $n = 0;
    foreach ($bodies as $what => $body) {
        $dq->add('orders', ['id' => 'e-' . $n++, 'body' => $body, 'delay' => 60 + $n]);
    }
    date_default_timezone_set('Asia/Shanghai');
    $dq->add('orders', ['id' => 'e-fix', 'fix_time' => $fix]);
    $dq->addMany('orders', [['id' => 'e-many-1', 'body' => ['m' => 1], 'delay' => 30], ['id' => 'e-many-2', 'body' => 'two', 'delay' => 30]]);
    $got = [];
    foreach ($ids as $id) {
        $got[$id] = $dq->get('orders', $id);
    }
    echo json_encode($got, JSON_PRESERVE_ZERO_FRACTION);
    PHP;
$eIds = [...array_map(fn ($id) => 'e-' . substr($id, 2), array_values($ids)), 'e-fix', 'e-many-1', 'e-many-2'];
$ext = json_decode(dq_ffi_ext_run($code, ['prefix' => $gw->prefix, 'bodies' => $bodies, 'ids' => $eIds, 'fix' => $fix]), true);
foreach ($eIds as $id) {
    $got = $dq->get('orders', $id);
    echo str_pad($id, 10), ' ', json_encode($got, JSON_PRESERVE_ZERO_FRACTION) === json_encode($ext[$id], JSON_PRESERVE_ZERO_FRACTION) ? 'same' : 'DIFFERENT: ' . json_encode($got) . ' vs ' . json_encode($ext[$id]), "\n";
}

echo "-- the JSON stored in Redis for the same body\n";
$redis = dq_phpredis();
foreach ($ids as $what => $id) {
    $ffi = $redis->hGet("{$gw->prefix}:{orders}:body", $id);
    $ext = $redis->hGet("{$gw->prefix}:{orders}:body", 'e-' . substr($id, 2));
    echo "$what: ", $ffi === $ext ? 'same' : "DIFFERENT: $ffi vs $ext", "\n";
}

echo "-- del through dq.so, gone for FFI; del through FFI, gone for dq.so\n";
echo dq_ffi_ext_run('var_dump((new Dq\Client(["prefix" => $prefix]))->del("orders", "f-0"));', ['prefix' => $gw->prefix]);
var_dump($dq->get('orders', 'f-0'), $dq->del('orders', 'e-0'));
echo dq_ffi_ext_run('var_dump((new Dq\Client(["prefix" => $prefix]))->get("orders", "e-0"));', ['prefix' => $gw->prefix]);
echo json_encode($dq->stats('orders')), "\n";
?>
--EXPECT--
-- added through FFI, read by dq.so
f-0        same
f-1        same
f-2        same
f-3        same
f-4        same
f-5        same
f-6        same
f-7        same
f-default  same
f-fix      same
f-many-1   same
f-many-2   same
object: true
numbers: true
string: true
json in a string: true
int: true
null: true
false: true
int keys: true
default delay 45 s: true
fix_time in Shanghai: true
stats: {"delayed":12,"ready":0,"inflight":0,"dead":0} true
-- added by dq.so (the same bodies), read through FFI
e-0        same
e-1        same
e-2        same
e-3        same
e-4        same
e-5        same
e-6        same
e-7        same
e-fix      same
e-many-1   same
e-many-2   same
-- the JSON stored in Redis for the same body
object: same
numbers: same
string: same
json in a string: same
int: same
null: same
false: same
int keys: same
-- del through dq.so, gone for FFI; del through FFI, gone for dq.so
bool(true)
NULL
bool(true)
NULL
{"delayed":21,"ready":0,"inflight":0,"dead":0}
