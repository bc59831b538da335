--TEST--
Dq\Client: an argument of the wrong PHP type is named with PHP's type name (int, float, string, array, null, true) and its value
--DESCRIPTION--
dq-core's checks of add() data say `id 1.5 is a float`, `delay "5" is a string`. The checks done in
the extension itself (options, addServer, get/del ids, addMany items) must speak the same language:
the value and PHP's name of its type, never an engine-internal name such as "Long" or "Double".
--EXTENSIONS--
dq
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';

function show(string $what, callable $fn): void
{
    echo str_pad($what, 18), ' ';
    try {
        $fn();
        echo "accepted\n";
    } catch (Throwable $e) {
        dq_show($e);
    }
}

show('timeout "x"', fn () => new Dq\Client(['timeout' => 'x']));
show('prefix 5', fn () => new Dq\Client(['prefix' => 5]));
show('redis 42', fn () => new Dq\Client(['redis' => 42]));
show('body_limit -1', fn () => new Dq\Client(['body_limit' => -1]));
show('body_limit "x"', fn () => new Dq\Client(['body_limit' => 'x']));
show('option key 5', fn () => new Dq\Client([5 => 'x']));
show('addServer(42)', fn () => (new Dq\Client())->addServer(42));
show('addServer([42])', fn () => (new Dq\Client())->addServer([42]));
$dq = new Dq\Client(['prefix' => dq_test_prefix('bad-types')]);
show('get(1.5)', fn () => $dq->get('orders', 1.5));
show('del(1.5)', fn () => $dq->del('orders', 1.5));
show("get(['x'])", fn () => $dq->get('orders', ['x']));
show('get(null)', fn () => $dq->get('orders', null));
show('del(true)', fn () => $dq->del('orders', true));
show('addMany items[1]', fn () => $dq->addMany('orders', [['id' => 'a'], 'b']));
show('addMany items[2]', fn () => $dq->addMany('orders', [['id' => 'a'], ['id' => 'b'], 42]));
?>
--EXPECTF--
timeout "x"        Dq\InvalidArgumentException(2): options['timeout']%s"x"%sstring%S: expected seconds%S
prefix 5           Dq\InvalidArgumentException(2): options['prefix']%s5%sint%S: expected a string
redis 42           Dq\InvalidArgumentException(2): options['redis']%s42%sint%S: expected a string or an array of servers
body_limit -1      Dq\InvalidArgumentException(2): options['body_limit']%s-1%s
body_limit "x"     Dq\InvalidArgumentException(2): options['body_limit']%s"x"%s
option key 5       Dq\InvalidArgumentException(2): unknown option %r"?5"?%r (options: redis, prefix, timeout, body_limit, replicas)
addServer(42)      Dq\InvalidArgumentException(2): servers%s42%sint%S: expected a string or an array of servers
addServer([42])    Dq\InvalidArgumentException(2): servers%s42%sint%S: expected a string such as "127.0.0.1:6379"
get(1.5)           Dq\InvalidArgumentException(2): id%s1.5%sfloat%S: expected a string or an integer
del(1.5)           Dq\InvalidArgumentException(2): id%s1.5%sfloat%S: expected a string or an integer
get(['x'])         Dq\InvalidArgumentException(2): id%sarray: expected a string or an integer
get(null)          Dq\InvalidArgumentException(2): id%snull: expected a string or an integer
del(true)          Dq\InvalidArgumentException(2): id%strue%s: expected a string or an integer
addMany items[1]   Dq\InvalidArgumentException(2): items[1]%s"b"%sstring: expected an array with id, body and delay or fix_time
addMany items[2]   Dq\InvalidArgumentException(2): items[2]%s42%sint%S: expected an array with id, body and delay or fix_time
