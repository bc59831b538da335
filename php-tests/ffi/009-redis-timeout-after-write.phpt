--TEST--
DqFfi\Client::add / addMany timing out after the write was sent: Dq\TimeoutException (code 5) saying the message may or may not have been stored and that adding it again is safe, as dq.so says it
--EXTENSIONS--
ffi
--SKIPIF--
<?php require __DIR__ . '/inc.php'; dq_ffi_skipif(); ?>
--FILE--
<?php
require __DIR__ . '/inc.php';
$gw = new TestGateway(dq_test_prefix('ffi-timeout-after-write'));
$gw->topic('orders');
$code = <<<'PHP'
    $proxy = new SilentScriptsProxy(); // Redis runs the add's script; its answer never comes back
    $slow = new $Client(['redis' => $proxy->url(), 'prefix' => $prefix, 'timeout' => 0.3]);
    $dq = new $Client(['prefix' => $prefix]);
    $dq->del('orders', 'o-1');
    try {
        $slow->add('orders', ['id' => 'o-1', 'body' => 'first', 'delay' => 60]);
    } catch (Dq\Exception $e) {
        echo preg_replace('/127\.0\.0\.1:\d+/', '127.0.0.1:PORT', get_class($e) . '(' . $e->getCode() . '): ' . $e->getMessage()), "\n";
    }
    echo 'stored all the same: ', var_export($dq->get('orders', 'o-1')['body'] ?? null, true), "\n";
    try {
        $slow->addMany('orders', [['id' => 'm-1', 'delay' => 60], ['id' => 'm-2', 'delay' => 60]]);
    } catch (Dq\Exception $e) {
        echo preg_replace('/127\.0\.0\.1:\d+/', '127.0.0.1:PORT', get_class($e) . '(' . $e->getCode() . '): ' . $e->getMessage()), "\n";
    }
    var_dump($dq->add('orders', ['id' => 'o-1', 'body' => 'again', 'delay' => 60]));
    echo json_encode($dq->stats('orders')), "\n";
    PHP;
dq_ffi_show_same(dq_ffi_and_ext($code, ['prefix' => $gw->prefix]));
?>
--EXPECT--
Dq\TimeoutException(5): Redis at redis://127.0.0.1:PORT/0 did not answer within 0.300s: message "o-1" may or may not have been stored; adding it again is safe: the same id replaces it
stored all the same: 'first'
Dq\TimeoutException(5): Redis at redis://127.0.0.1:PORT/0 did not answer within 0.300s: 0 of 2 messages were confirmed stored and the others may or may not have been; adding them again is safe: the same id replaces a message
bool(true)
{"delayed":3,"ready":0,"inflight":0,"dead":0}
== the extension printed the same
