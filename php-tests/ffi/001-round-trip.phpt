--TEST--
DqFfi\Client: add, get, del round trip with a body of every JSON type
--EXTENSIONS--
ffi
--SKIPIF--
<?php require __DIR__ . '/inc.php'; dq_ffi_skipif(); ?>
--FILE--
<?php
require __DIR__ . '/inc.php';
$gw = new TestGateway(dq_test_prefix('ffi-round-trip'));
$gw->topic('orders');

$dq = new DqFfi\Client(['prefix' => $gw->prefix]);
$body = ['amount' => 12.5, 'n' => 3, 'ok' => true, 'none' => null, 'tags' => ['a', 'b'], 'nested' => ['x' => ['y' => 'z']], 'text' => "naïve ✓", 'empty' => [], 'whole' => 2.0, 'big' => PHP_INT_MAX, 'slash' => 'a/b "q"'];
var_dump($dq->add('orders', ['id' => 'o-1', 'body' => $body, 'delay' => 60]));
$got = $dq->get('orders', 'o-1');
var_dump(array_keys($got), $got['topic'], $got['id'], $got['body'] === $body, $got['state'], $got['attempts']);
var_dump(abs($got['due_at'] - (microtime(true) + 60)) < 2);
// Bodies that are not arrays: each JSON type on its own.
foreach (['string' => 'text', 'int' => 42, 'float' => 0.1, 'true' => true, 'null' => null, 'list' => [1, 'two']] as $id => $value) {
    $dq->add('orders', ['id' => $id, 'body' => $value, 'delay' => 60]);
    echo $id, ': ', var_export($dq->get('orders', $id)['body'] === $value, true), "\n";
}
$dq->add('orders', ['id' => 'no-body', 'delay' => 60]);
var_dump($dq->get('orders', 'no-body')['body']);
var_dump($dq->del('orders', 'o-1'), $dq->del('orders', 'o-1'), $dq->get('orders', 'o-1'));
echo json_encode($dq->stats('orders')), "\n";
?>
--EXPECT--
bool(true)
array(6) {
  [0]=>
  string(5) "topic"
  [1]=>
  string(2) "id"
  [2]=>
  string(4) "body"
  [3]=>
  string(6) "due_at"
  [4]=>
  string(8) "attempts"
  [5]=>
  string(5) "state"
}
string(6) "orders"
string(3) "o-1"
bool(true)
string(7) "delayed"
int(0)
bool(true)
string: true
int: true
float: true
true: true
null: true
list: true
NULL
bool(true)
bool(false)
NULL
{"delayed":7,"ready":0,"inflight":0,"dead":0}
