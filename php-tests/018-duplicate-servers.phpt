--TEST--
Dq\Client: a server named twice in the 'redis' option or in dq.redis is one shard (or the list is refused), never counted twice
--DESCRIPTION--
addServer() ignores a server it already has (018-ids-and-servers.phpt). The 'redis' option and
dq.redis take a list too; the same server twice there must not become two "shards" on one
database, which makes stats() count every message twice. Deduplicating or refusing the list
(Dq\InvalidArgumentException naming the server) are both fine.
--EXTENSIONS--
dq
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$gw = new TestGateway(dq_test_prefix('dup-servers'));
$gw->topic('orders');
(new Dq\Client(['prefix' => $gw->prefix]))->addMany('orders', [['id' => 'a', 'delay' => 60], ['id' => 'b', 'delay' => 60]]);

function check(string $what, callable $make): void
{
    try {
        $stats = $make()->stats('orders');
        echo "$what: ", $stats['delayed'] === 2 ? 'counted once' : "stats count {$stats['delayed']} messages, not 2", "\n";
    } catch (Dq\InvalidArgumentException $e) {
        echo "$what: ", str_contains($e->getMessage(), '127.0.0.1:6379') ? 'refused, naming the server' : 'refused without naming the server: ' . $e->getMessage(), "\n";
    }
}
check("option '127.0.0.1:6379,redis://127.0.0.1:6379/0'", fn () => new Dq\Client(['prefix' => $gw->prefix, 'redis' => '127.0.0.1:6379,redis://127.0.0.1:6379/0']));
check('option [same, same]', fn () => new Dq\Client(['prefix' => $gw->prefix, 'redis' => ['127.0.0.1:6379', ['host' => '127.0.0.1', 'port' => 6379]]]));
ini_set('dq.redis', 'redis://127.0.0.1:6379/0,redis://127.0.0.1:6379/0');
check('dq.redis same twice', fn () => new Dq\Client(['prefix' => $gw->prefix]));
?>
--EXPECTF--
option '127.0.0.1:6379,redis://127.0.0.1:6379/0': %r(counted once|refused, naming the server)%r
option [same, same]: %r(counted once|refused, naming the server)%r
dq.redis same twice: %r(counted once|refused, naming the server)%r
