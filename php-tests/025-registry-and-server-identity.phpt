--TEST--
Dq\Client: one Redis under two names is refused naming both; a registry that Redis lost (flush, restart without persistence) is asked for again, and the add goes through while a gateway runs
--DESCRIPTION--
localhost:6379 and 127.0.0.1:6379 are one server: as two "shards" every count would double. dq
learns each server's run id when it connects and refuses the second name. When the registry
hash is missing, the extension asks the gateways on the wake channel to publish it again and
looks once more, instead of calling a registered topic unknown.
--EXTENSIONS--
dq
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$gw = new TestGateway(dq_test_prefix('registry-identity'));
$gw->topic('orders');

$twice = new Dq\Client(['prefix' => $gw->prefix, 'redis' => ['redis://127.0.0.1:6379/0', 'redis://localhost:6379/0']]);
try {
    $twice->stats('orders');
    echo "counted twice\n";
} catch (Dq\InvalidArgumentException $e) {
    echo get_class($e), ': ', str_contains($e->getMessage(), 'same server') ? 'same server' : $e->getMessage(), ', ',
        str_contains($e->getMessage(), 'localhost') && str_contains($e->getMessage(), '127.0.0.1') ? 'both named' : 'not both named', "\n";
}
// Two databases of one server are two shards.
var_dump((new Dq\Client(['prefix' => $gw->prefix, 'redis' => ['redis://127.0.0.1:6379/11', 'redis://localhost:6379/12']]))->stats('orders')['delayed']);

// The registry vanishes (FLUSHDB, eviction): the add asks the gateway, which publishes it again.
$redis = new Redis();
$redis->connect('127.0.0.1', 6379);
$redis->del("{$gw->prefix}:topics");
$dq = new Dq\Client(['prefix' => $gw->prefix]);
var_dump($dq->add('orders', ['id' => 'o-1', 'delay' => 60]));
var_dump($redis->hExists("{$gw->prefix}:topics", 'orders'));
?>
--EXPECT--
Dq\InvalidArgumentException: same server, both named
int(0)
bool(true)
bool(true)
