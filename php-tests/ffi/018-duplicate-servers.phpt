--TEST--
DqFfi\Client: a server named twice in the 'redis' option or in addServer() calls is one shard (or the list is refused), never counted twice
--DESCRIPTION--
As php-tests/018-duplicate-servers.phpt. dq.redis is not there without dq.so; instead the same
server spelt three ways in addServer() calls, which must be one shard.
--EXTENSIONS--
ffi
--SKIPIF--
<?php require __DIR__ . '/inc.php'; dq_ffi_skipif(); ?>
--FILE--
<?php
require __DIR__ . '/inc.php';
$gw = new TestGateway(dq_test_prefix('ffi-dup-servers'));
$gw->topic('orders');
(new DqFfi\Client(['prefix' => $gw->prefix]))->addMany('orders', [['id' => 'a', 'delay' => 60], ['id' => 'b', 'delay' => 60]]);

function check(string $what, callable $make): void
{
    try {
        $stats = $make()->stats('orders');
        echo "$what: ", $stats['delayed'] === 2 ? 'counted once' : "stats count {$stats['delayed']} messages, not 2", "\n";
    } catch (Dq\InvalidArgumentException $e) {
        echo "$what: ", str_contains($e->getMessage(), '127.0.0.1:6379') ? 'refused, naming the server' : 'refused without naming the server: ' . $e->getMessage(), "\n";
    }
}
check("option '127.0.0.1:6379,redis://127.0.0.1:6379/0'", fn () => new DqFfi\Client(['prefix' => $gw->prefix, 'redis' => '127.0.0.1:6379,redis://127.0.0.1:6379/0']));
check('option [same, same]', fn () => new DqFfi\Client(['prefix' => $gw->prefix, 'redis' => ['127.0.0.1:6379', ['host' => '127.0.0.1', 'port' => 6379]]]));
check('addServer same three ways', function () use ($gw) {
    $client = new DqFfi\Client(['prefix' => $gw->prefix]);
    $client->addServer('127.0.0.1:6379');
    $client->addServer(['redis://127.0.0.1:6379/0', ['host' => '127.0.0.1', 'port' => 6379, 'db' => 0]]);
    return $client;
});
?>
--EXPECT--
option '127.0.0.1:6379,redis://127.0.0.1:6379/0': refused, naming the server
option [same, same]: refused, naming the server
addServer same three ways: counted once
