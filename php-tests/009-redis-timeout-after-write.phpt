--TEST--
Dq\Client::add / addMany timing out after the write was sent: Dq\TimeoutException (code 5) saying the message may or may not have been stored and that adding it again is safe (it was stored)
--EXTENSIONS--
dq
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$gw = new TestGateway(dq_test_prefix('timeout-after-write'));
$gw->topic('orders');
$proxy = new SilentScriptsProxy(); // Redis runs the add's script; its answer never comes back
$slow = new Dq\Client(['redis' => $proxy->url(), 'prefix' => $gw->prefix, 'timeout' => 0.3]);
$dq = new Dq\Client(['prefix' => $gw->prefix]);

try {
    $slow->add('orders', ['id' => 'o-1', 'body' => 'first', 'delay' => 60]);
} catch (Dq\Exception $e) {
    dq_show($e);
}
echo 'stored all the same: ', var_export($dq->get('orders', 'o-1')['body'] ?? null, true), "\n";
try {
    $slow->addMany('orders', [['id' => 'm-1', 'delay' => 60], ['id' => 'm-2', 'delay' => 60]]);
} catch (Dq\Exception $e) {
    dq_show($e);
}
echo "-- adding again, through a Redis that answers, replaces\n";
var_dump($dq->add('orders', ['id' => 'o-1', 'body' => 'again', 'delay' => 60]));
var_dump($dq->addMany('orders', [['id' => 'm-1', 'delay' => 60], ['id' => 'm-2', 'delay' => 60]]));
echo json_encode($dq->stats('orders')), ' ', $dq->get('orders', 'o-1')['body'], "\n";
?>
--EXPECTF--
Dq\TimeoutException(5): Redis at redis://127.0.0.1:%d/0 did not answer within 0.300s: message "o-1" may or may not have been stored; adding it again is safe: the same id replaces it
stored all the same: 'first'
Dq\TimeoutException(5): Redis at redis://127.0.0.1:%d/0 did not answer within 0.300s: 0 of 2 messages were confirmed stored and the others may or may not have been; adding them again is safe: the same id replaces a message
-- adding again, through a Redis that answers, replaces
bool(true)
int(2)
{"delayed":3,"ready":0,"inflight":0,"dead":0} again
