--TEST--
Dq\Client: add, get, del round trip with a body of every JSON type
--EXTENSIONS--
dq
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$gw = new TestGateway(dq_test_prefix('round-trip'));
$gw->topic('orders');

$dq = new Dq\Client(['prefix' => $gw->prefix]);
$body = ['amount' => 12.5, 'n' => 3, 'ok' => true, 'none' => null, 'tags' => ['a', 'b'], 'nested' => ['x' => ['y' => 'z']], 'text' => "naïve ✓"];
var_dump($dq->add('orders', ['id' => 'o-1', 'body' => $body, 'delay' => 60]));
$got = $dq->get('orders', 'o-1');
var_dump($got['topic'], $got['id'], $got['body'] === $body, $got['state'], $got['attempts']);
var_dump(abs($got['due_at'] - (microtime(true) + 60)) < 2);
var_dump($dq->del('orders', 'o-1'), $dq->del('orders', 'o-1'), $dq->get('orders', 'o-1'));
?>
--EXPECT--
bool(true)
string(6) "orders"
string(3) "o-1"
bool(true)
string(7) "delayed"
int(0)
bool(true)
bool(true)
bool(false)
NULL
