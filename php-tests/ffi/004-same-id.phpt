--TEST--
DqFfi\Client::add with an id already stored replaces its body and due time; never two messages
--EXTENSIONS--
ffi
--SKIPIF--
<?php require __DIR__ . '/inc.php'; dq_ffi_skipif(); ?>
--FILE--
<?php
require __DIR__ . '/inc.php';
$gw = new TestGateway(dq_test_prefix('ffi-same-id'));
$gw->topic('orders');
$dq = new DqFfi\Client(['prefix' => $gw->prefix]);

var_dump($dq->add('orders', ['id' => 'o-1', 'body' => ['v' => 1], 'delay' => 60]));
$first = $dq->get('orders', 'o-1');
var_dump($dq->add('orders', ['id' => 'o-1', 'body' => ['v' => 2], 'delay' => 600]));
$second = $dq->get('orders', 'o-1');
echo "body replaced: ", json_encode($second['body']), "\n";
echo "due_at moved by 540 s: ", var_export(abs($second['due_at'] - $first['due_at'] - 540) < 1, true), "\n";
echo "state: ", $second['state'], "\n";
var_dump($dq->stats('orders'));

// Replacing a delayed message with a due one moves it to ready (still one message), and back.
var_dump($dq->add('orders', ['id' => 'o-1', 'body' => 'now', 'delay' => 0]));
echo $dq->get('orders', 'o-1')['state'], ' ', json_encode($dq->get('orders', 'o-1')['body']), "\n";
echo json_encode($dq->stats('orders')), "\n";
var_dump($dq->add('orders', ['id' => 'o-1', 'body' => 'later', 'fix_time' => time() + 3600]));
echo $dq->get('orders', 'o-1')['state'], ' ', json_encode($dq->get('orders', 'o-1')['body']), "\n";
echo json_encode($dq->stats('orders')), "\n";

// An int id and its string form are the same id.
var_dump($dq->add('orders', ['id' => 42, 'body' => 'int', 'delay' => 60]));
var_dump($dq->add('orders', ['id' => '42', 'body' => 'string', 'delay' => 60]));
echo json_encode($dq->get('orders', 42)['body']), ' ', json_encode($dq->stats('orders')), "\n";

// Deleted, then added again: a fresh message.
var_dump($dq->del('orders', 'o-1'));
var_dump($dq->get('orders', 'o-1'));
echo json_encode($dq->stats('orders')), "\n";
var_dump($dq->add('orders', ['id' => 'o-1', 'body' => ['v' => 3], 'delay' => 30]));
$again = $dq->get('orders', 'o-1');
echo json_encode($again['body']), ' ', $again['state'], ' ', $again['attempts'], ' ', var_export(abs($again['due_at'] - microtime(true) - 30) < 2, true), "\n";
echo json_encode($dq->stats('orders')), "\n";

// addMany with the same id twice in one list: the last one wins, one message.
var_dump($dq->addMany('orders', [['id' => 'dup', 'body' => 1, 'delay' => 60], ['id' => 'dup', 'body' => 2, 'delay' => 60]]));
echo json_encode($dq->get('orders', 'dup')['body']), ' ', json_encode($dq->stats('orders')), "\n";
?>
--EXPECT--
bool(true)
bool(true)
body replaced: {"v":2}
due_at moved by 540 s: true
state: delayed
array(4) {
  ["delayed"]=>
  int(1)
  ["ready"]=>
  int(0)
  ["inflight"]=>
  int(0)
  ["dead"]=>
  int(0)
}
bool(true)
ready "now"
{"delayed":0,"ready":1,"inflight":0,"dead":0}
bool(true)
delayed "later"
{"delayed":1,"ready":0,"inflight":0,"dead":0}
bool(true)
bool(true)
"string" {"delayed":2,"ready":0,"inflight":0,"dead":0}
bool(true)
NULL
{"delayed":1,"ready":0,"inflight":0,"dead":0}
bool(true)
{"v":3} delayed 0 true
{"delayed":2,"ready":0,"inflight":0,"dead":0}
int(2)
2 {"delayed":3,"ready":0,"inflight":0,"dead":0}
