--TEST--
dq.* ini settings: php.ini values are the defaults of new clients, ini_set() applies to clients made after it, bad values are named; php --ri dq
--EXTENSIONS--
dq
--INI--
dq.prefix=dqphpt-ini-section
dq.redis=redis://127.0.0.1:6379/14
dq.timeout=0.7
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';

echo "-- the --INI-- values\n";
var_dump(ini_get('dq.prefix'), ini_get('dq.redis'), ini_get('dq.timeout'), ini_get('dq.amqp'));
$fromIni = new Dq\Client();
try {
    $fromIni->add('orders', ['id' => 'o-1']);
} catch (Dq\UnknownTopicException $e) {
    dq_show($e); // names the prefix and the server the client used
}
// dq.timeout bounds a server that never answers.
$silent = stream_socket_server('tcp://127.0.0.1:0');
$address = stream_socket_get_name($silent, false);
[$e, $elapsed] = dq_timed(fn () => (new Dq\Client(['redis' => "redis://$address/0"]))->get('orders', 'o-1'));
echo get_class($e), ' within dq.timeout 0.7: ', $elapsed > 0.6 && $elapsed < 1.6 ? 'true' : sprintf('no, %.3f s', $elapsed), ' ', var_export(str_contains($e->getMessage(), '0.700'), true), "\n";
fclose($silent);

echo "-- ini_set() applies to clients made after it\n";
$gw = new TestGateway(dq_test_prefix('ini'));
$gw->topic('orders');
var_dump(ini_set('dq.prefix', $gw->prefix), ini_set('dq.redis', '127.0.0.1:6379'));
$fromRuntime = new Dq\Client();
var_dump($fromRuntime->add('orders', ['id' => 'o-1', 'delay' => 60]));
var_dump($fromRuntime->get('orders', 'o-1')['id']);
// The earlier client keeps what it was made with.
try {
    $fromIni->add('orders', ['id' => 'o-2']);
} catch (Dq\UnknownTopicException $e) {
    dq_show($e);
}
// Options override ini.
try {
    (new Dq\Client(['prefix' => $gw->prefix . '-opt']))->add('orders', ['id' => 'o-3']);
} catch (Dq\UnknownTopicException $e) {
    echo str_contains($e->getMessage(), "\"{$gw->prefix}-opt\"") ? "option prefix used\n" : $e->getMessage();
}

echo "-- bad ini values are named when a client is made\n";
foreach (['dq.redis' => ['host:nope', 'redis://:s3cret@host:nope/0', 'http://127.0.0.1:6379', ''], 'dq.prefix' => ['my app'], 'dq.timeout' => ['abc', '0', '-1']] as $name => $values) {
    $before = ini_get($name);
    foreach ($values as $value) {
        ini_set($name, $value);
        try {
            new Dq\Client();
            echo "$name=$value accepted\n";
        } catch (Throwable $e) {
            dq_show($e);
        }
    }
    ini_set($name, $before);
}

echo "-- php --ri dq\n";
$cmd = getenv('TEST_PHP_EXECUTABLE') . ' -n -d extension=' . escapeshellarg(dq_root() . '/build/dq.so')
    . ' -d ' . escapeshellarg('dq.redis=redis://:s3cret@10.0.0.1:6379/2,10.0.0.2:6380:pw2')
    . ' -d ' . escapeshellarg('dq.amqp=amqp://guest:gpass@mq:5672/%2f')
    . ' -d dq.prefix=myapp -d dq.timeout=1.5 --ri dq';
$info = shell_exec($cmd);
foreach (explode("\n", $info) as $line) {
    if (preg_match('/^(dq support|Version|Effective|Directive|dq\.)/', $line)) {
        echo $line, "\n";
    }
}
echo "no password shown: ", var_export(!preg_match('/s3cret|pw2|gpass/', $info), true), "\n";
?>
--EXPECTF--
-- the --INI-- values
string(18) "dqphpt-ini-section"
string(25) "redis://127.0.0.1:6379/14"
string(3) "0.7"
string(37) "amqp://guest:guest@127.0.0.1:5672/%2f"
Dq\UnknownTopicException(3): topic "orders" cannot be checked: the topic registry (dqphpt-ini-section:topics) is missing on redis://127.0.0.1:6379/14: %s
Dq\%sException within dq.timeout 0.7: true true
-- ini_set() applies to clients made after it
string(18) "dqphpt-ini-section"
string(25) "redis://127.0.0.1:6379/14"
bool(true)
string(3) "o-1"
Dq\UnknownTopicException(3): topic "orders" cannot be checked: the topic registry (dqphpt-ini-section:topics) is missing on redis://127.0.0.1:6379/14: %s
option prefix used
-- bad ini values are named when a client is made
Dq\InvalidArgumentException(2): dq.redis: Redis server "host:nope" is not host:port[:auth]
Dq\InvalidArgumentException(2): dq.redis: Redis server "redis://:***@host:nope/0" is not a valid URL (%s): %s
Dq\InvalidArgumentException(2): dq.redis: Redis server "http://127.0.0.1:6379" has scheme "http": %s
Dq\InvalidArgumentException(2): dq.redis: no Redis server given: %s
Dq\InvalidArgumentException(2): dq.prefix: prefix "my app" is invalid: %s
Dq\InvalidArgumentException(2): dq.timeout "abc" is not a number of seconds
Dq\InvalidArgumentException(2): dq.timeout: timeout 0 is invalid: %s
Dq\InvalidArgumentException(2): dq.timeout: timeout -1 is invalid: %s
-- php --ri dq
dq support => enabled
Version => %d.%d.%s
Effective Redis => redis://:***@10.0.0.1:6379/2,10.0.0.2:6380:***
Effective RabbitMQ => amqp://guest:***@mq:5672/%2f
Effective prefix => myapp
Effective MySQL (XA log) => mysql://root@127.0.0.1:3306/dq
Effective timeout => 1.500 s
Directive => Local Value => Master Value
dq.redis => redis://:***@10.0.0.1:6379/2,10.0.0.2:6380:*** => redis://:***@10.0.0.1:6379/2,10.0.0.2:6380:***
dq.amqp => amqp://guest:***@mq:5672/%2f => amqp://guest:***@mq:5672/%2f
dq.prefix => myapp => myapp
dq.timeout => 1.5 => 1.5
dq.replicas => 0 => 0
dq.amqp_queue_type => classic => classic
dq.mysql => mysql://root@127.0.0.1:3306/dq => mysql://root@127.0.0.1:3306/dq
no password shown: true
