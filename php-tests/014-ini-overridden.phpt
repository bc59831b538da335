--TEST--
dq.* ini: a bad setting does not matter to a client whose options give that setting (options override ini)
--DESCRIPTION--
DESIGN.md: "constructor option arrays override them". A php.ini with a dq.redis that this code does
not use (it passes 'redis', or calls addServer) must not make the constructor throw; without the
option, the bad setting is reported (014-ini.phpt).
--EXTENSIONS--
dq
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$gw = new TestGateway(dq_test_prefix('ini-overridden'));
$gw->topic('orders');

ini_set('dq.redis', 'host:nope');
try {
    $dq = new Dq\Client(['redis' => '127.0.0.1:6379', 'prefix' => $gw->prefix]);
    var_dump($dq->add('orders', ['id' => 'o-1', 'delay' => 60]));
} catch (Throwable $e) {
    dq_show($e);
}
ini_set('dq.redis', 'redis://127.0.0.1:6379/0');

ini_set('dq.prefix', 'my app');
try {
    $dq = new Dq\Client(['prefix' => $gw->prefix]);
    var_dump($dq->get('orders', 'o-1')['id']);
} catch (Throwable $e) {
    dq_show($e);
}
ini_set('dq.prefix', 'dq');

ini_set('dq.timeout', 'abc');
try {
    $dq = new Dq\Client(['prefix' => $gw->prefix, 'timeout' => 2]);
    var_dump($dq->del('orders', 'o-1'));
} catch (Throwable $e) {
    dq_show($e);
}
ini_set('dq.timeout', '3.0');
?>
--EXPECT--
bool(true)
string(3) "o-1"
bool(true)
