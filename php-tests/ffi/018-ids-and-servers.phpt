--TEST--
DqFfi\Client: int ids (0, negative, PHP_INT_MAX) in add/get/del; addServer replaces the default server, then appends, ignores duplicates; ['host','port','db'] picks the database
--EXTENSIONS--
ffi
redis
--SKIPIF--
<?php require __DIR__ . '/inc.php'; dq_ffi_skipif(); ?>
--FILE--
<?php
require __DIR__ . '/inc.php';
$gw = new TestGateway(dq_test_prefix('ffi-ids-servers'));
$gw->topic('orders');
$dq = new DqFfi\Client(['prefix' => $gw->prefix]);

echo "-- int ids\n";
foreach ([123, 0, -5, PHP_INT_MAX] as $id) {
    $dq->add('orders', ['id' => $id, 'body' => "int $id", 'delay' => 60]);
    $byInt = $dq->get('orders', $id);
    $byString = $dq->get('orders', (string) $id);
    echo str_pad((string) $id, 20), ' ', json_encode($byInt['id']), ' ', var_export($byInt === $byString, true), ' ', json_encode($byInt['body']), "\n";
}
var_dump($dq->del('orders', 0), $dq->get('orders', 0), $dq->get('orders', '0'), $dq->del('orders', '0'));
var_dump($dq->del('orders', '123'), $dq->get('orders', 123));
var_dump($dq->del('orders', PHP_INT_MAX), $dq->del('orders', -5));
// A string id that merely looks like a number is that string: "007" is not 7.
$dq->add('orders', ['id' => '007', 'delay' => 60]);
var_dump($dq->get('orders', 7), $dq->get('orders', '007')['id']);
echo json_encode($dq->stats('orders')), "\n";

echo "-- addServer: the first call replaces the default server (there is no dq.redis without dq.so)\n";
$client = new DqFfi\Client(['prefix' => $gw->prefix, 'timeout' => 0.5]);
echo 'default: ', json_encode($client->stats('orders')), "\n";
$client->addServer('redis://127.0.0.1:6379/15');
echo 'after addServer(db 15): ', json_encode($client->stats('orders')), "\n";

echo "-- later calls append\n";
$closed = dq_closed_port();
$client->addServer("127.0.0.1:$closed");
try {
    $client->stats('orders'); // needs every shard, and the second one is down
    echo "stats: no error\n";
} catch (Dq\ConnectionException $e) {
    echo "stats names the appended server: ", var_export(str_contains($e->getMessage(), "127.0.0.1:$closed"), true), "\n";
}

echo "-- duplicates are ignored (a duplicate shard would count every message twice)\n";
$client = new DqFfi\Client(['prefix' => $gw->prefix]);
$client->addServer('127.0.0.1:6379');
$client->addServer('127.0.0.1:6379');
$client->addServer(['127.0.0.1:6379', 'redis://127.0.0.1:6379/0', ['host' => '127.0.0.1', 'port' => 6379]]);
echo json_encode($client->stats('orders')), "\n";

echo "-- ['host', 'port', 'db' => 14]\n";
$gw14 = new TestGateway(dq_test_prefix('ffi-ids-servers-14'), ['DQ_REDIS' => 'redis://127.0.0.1:6379/14']);
register_shutdown_function(function () use ($gw14) {
    $gw14->stop();
    dq_cleanup_prefix($gw14->prefix, db: 14);
});
$gw14->topic('orders');
$client = new DqFfi\Client(['prefix' => $gw14->prefix]);
$client->addServer([['host' => '127.0.0.1', 'port' => 6379, 'db' => 14]]);
var_dump($client->add('orders', ['id' => 'in-14', 'body' => 'fourteen', 'delay' => 60]));
$redis14 = dq_phpredis(14);
$redis0 = dq_phpredis(0);
var_dump($redis14->hGet("{$gw14->prefix}:{orders}:body", 'in-14'), $redis14->zScore("{$gw14->prefix}:{orders}:delayed", 'in-14') > 0);
var_dump($redis0->exists("{$gw14->prefix}:{orders}:body"));
// 'port' as a string and 'db' as a string are read too.
$client = new DqFfi\Client(['prefix' => $gw14->prefix, 'redis' => [['host' => '127.0.0.1', 'port' => '6379', 'db' => '14']]]);
var_dump($client->get('orders', 'in-14')['body']);

echo "-- a password is never shown\n";
foreach (['127.0.0.1:6379:s3cret', [['host' => '127.0.0.1', 'port' => 6379, 'auth' => 's3cret', 'db' => 14]], 'redis://user:s3cret@127.0.0.1:6379/0'] as $server) {
    $client = new DqFfi\Client(['prefix' => $gw->prefix, 'timeout' => 1]);
    $client->addServer($server);
    try {
        $client->get('orders', 'x');
        echo "no error (Redis has no password set?)\n";
    } catch (Dq\Exception $e) {
        echo get_class($e), ' masked: ', var_export(!str_contains($e->getMessage(), 's3cret') && str_contains($e->getMessage(), '***'), true), "\n";
    }
}
?>
--EXPECT--
-- int ids
123                  "123" true "int 123"
0                    "0" true "int 0"
-5                   "-5" true "int -5"
9223372036854775807  "9223372036854775807" true "int 9223372036854775807"
bool(true)
NULL
NULL
bool(false)
bool(true)
NULL
bool(true)
bool(true)
NULL
string(3) "007"
{"delayed":1,"ready":0,"inflight":0,"dead":0}
-- addServer: the first call replaces the default server (there is no dq.redis without dq.so)
default: {"delayed":1,"ready":0,"inflight":0,"dead":0}
after addServer(db 15): {"delayed":0,"ready":0,"inflight":0,"dead":0}
-- later calls append
stats names the appended server: true
-- duplicates are ignored (a duplicate shard would count every message twice)
{"delayed":1,"ready":0,"inflight":0,"dead":0}
-- ['host', 'port', 'db' => 14]
bool(true)
string(10) ""fourteen""
bool(true)
int(0)
string(8) "fourteen"
-- a password is never shown
Dq\ConnectionException masked: true
Dq\ConnectionException masked: true
Dq\ConnectionException masked: true
