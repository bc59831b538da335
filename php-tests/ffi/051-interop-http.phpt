--TEST--
DqFfi\Client and dq-gateway's HTTP API see the same messages: add through one, get/del/stats through the other
--EXTENSIONS--
ffi
--SKIPIF--
<?php require __DIR__ . '/inc.php'; dq_ffi_skipif(); ?>
--FILE--
<?php
require __DIR__ . '/inc.php';
$gw = new TestGateway(dq_test_prefix('ffi-http-interop'));
$gw->topic('orders', ['delay' => 45]);
$dq = new DqFfi\Client(['prefix' => $gw->prefix]);
$body = ['amount' => 12.5, 'items' => [1, 2, 3], 'note' => "naïve ✓", 'ok' => true, 'none' => null, 'empty' => [], 'obj' => ['k' => 'v']];

echo "-- HTTP add, FFI get\n";
[$status, $added] = $gw->request('POST', '/v1/topics/orders/messages', ['id' => 'h-1', 'body' => $body, 'delay' => 60]);
echo $status, ' ', json_encode(array_keys($added)), ' ', $added['id'], ' ', $added['state'], "\n";
$got = $dq->get('orders', 'h-1');
echo 'same JSON as HTTP GET: ', var_export(json_encode($got, JSON_PRESERVE_ZERO_FRACTION) === json_encode($gw->request('GET', '/v1/topics/orders/messages/h-1')[1], JSON_PRESERVE_ZERO_FRACTION), true), "\n";
var_dump($got['body'] === $body, $got['due_at'] === $added['due_at'], $got['state'], $got['attempts']);
// The topic's default delay applies over HTTP too.
[$status, $added] = $gw->request('POST', '/v1/topics/orders/messages', ['id' => 'h-default']);
echo $status, ' due in 45 s: ', var_export(abs($added['due_at'] - microtime(true) - 45) < 2, true), ' ', var_export($dq->get('orders', 'h-default')['due_at'] === $added['due_at'], true), "\n";
// A string body over HTTP is a string for PHP (not decoded twice).
$gw->request('POST', '/v1/topics/orders/messages', ['id' => 'h-json', 'body' => '{"a":1}', 'delay' => 60]);
var_dump($dq->get('orders', 'h-json')['body']);

echo "-- FFI add, HTTP get\n";
var_dump($dq->add('orders', ['id' => 'p-1', 'body' => $body, 'delay' => 90]));
$mine = $dq->get('orders', 'p-1');
[$status, $seen] = $gw->request('GET', '/v1/topics/orders/messages/p-1');
echo $status, ' same fields: ', var_export($seen == $mine && array_keys($seen) === array_keys($mine), true), ', same body: ', var_export($seen['body'] === $body, true), "\n";
echo 'same JSON: ', var_export(json_encode($seen, JSON_PRESERVE_ZERO_FRACTION) === json_encode($mine, JSON_PRESERVE_ZERO_FRACTION), true), "\n";
// An int id from PHP is the string id over HTTP.
$dq->add('orders', ['id' => 77, 'delay' => 90]);
[$status, $seen] = $gw->request('GET', '/v1/topics/orders/messages/77');
echo $status, ' ', json_encode($seen['id']), "\n";

echo "-- same id from both: one message, the last add wins\n";
$gw->request('POST', '/v1/topics/orders/messages', ['id' => 'p-1', 'body' => 'from http', 'delay' => 30]);
echo json_encode($dq->get('orders', 'p-1')['body']), "\n";
$dq->add('orders', ['id' => 'p-1', 'body' => 'from php', 'delay' => 30]);
echo json_encode($gw->request('GET', '/v1/topics/orders/messages/p-1')[1]['body']), "\n";

echo "-- stats agree\n";
[$status, $httpStats] = $gw->request('GET', '/v1/topics/orders/stats');
echo $status, ' ', json_encode($httpStats), ' ', var_export($httpStats === $dq->stats('orders'), true), "\n";

echo "-- delete through one, gone in the other\n";
[$status] = $gw->request('DELETE', '/v1/topics/orders/messages/p-1');
echo $status, ' ';
var_dump($dq->get('orders', 'p-1'), $dq->del('orders', 'p-1'));
var_dump($dq->del('orders', 'h-1'));
[$status, $error] = $gw->request('GET', '/v1/topics/orders/messages/h-1');
echo $status, ' ', $error['error']['code'], "\n";
echo $gw->request('DELETE', '/v1/topics/orders/messages/h-1')[0], "\n";
[$status, $httpStats] = $gw->request('GET', '/v1/topics/orders/stats');
echo json_encode($httpStats), ' ', var_export($httpStats === $dq->stats('orders'), true), "\n";

echo "-- the same bad input is refused the same way\n";
[$status, $error] = $gw->request('POST', '/v1/topics/orders/messages', ['id' => 'x', 'dealy' => 5]);
echo $status >= 400 && $status < 500 ? '4xx' : $status, ' ', $error['error']['code'], ': ', $error['error']['message'], "\n";
try {
    $dq->add('orders', ['id' => 'x', 'dealy' => 5]);
} catch (Dq\Exception $e) {
    dq_show($e);
}
[$status, $error] = $gw->request('POST', '/v1/topics/unregistered/messages', ['id' => 'x']);
echo $status, ' ', $error['error']['code'], "\n";
?>
--EXPECTF--
-- HTTP add, FFI get
201 ["id","due_at","state"] h-1 delayed
same JSON as HTTP GET: true
bool(true)
bool(true)
string(7) "delayed"
int(0)
201 due in 45 s: true true
string(7) "{"a":1}"
-- FFI add, HTTP get
bool(true)
200 same fields: true, same body: true
same JSON: true
200 "77"
-- same id from both: one message, the last add wins
"from http"
"from php"
-- stats agree
200 {"delayed":5,"ready":0,"inflight":0,"dead":0} true
-- delete through one, gone in the other
204 NULL
bool(false)
bool(true)
404 NOT_FOUND
404
{"delayed":3,"ready":0,"inflight":0,"dead":0} true
-- the same bad input is refused the same way
4xx INVALID_ARGUMENT: unknown field "dealy": did you mean "delay"? (fields: id, body, delay, fix_time)
Dq\InvalidArgumentException(2): data: unknown field "dealy": did you mean "delay"? (fields: id, body, delay, fix_time)
404 UNKNOWN_TOPIC
