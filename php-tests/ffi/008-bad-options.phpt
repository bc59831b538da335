--TEST--
DqFfi\Client: bad options, addServer arguments, get/del ids, argument types and addMany items throw what dq.so throws: same class, code and message
--EXTENSIONS--
ffi
--SKIPIF--
<?php require __DIR__ . '/inc.php'; dq_ffi_skipif(); ?>
--FILE--
<?php
require __DIR__ . '/inc.php';
$gw = new TestGateway(dq_test_prefix('ffi-bad-options'));
$gw->topic('orders');
// The calls of php-tests/008-bad-options.phpt and 008-bad-types.phpt, and bad addMany items, here
// with DqFfi\Client, then with Dq\Client in a dq.so process.
$code = <<<'PHP'
    $try_new = function (string $what, array $options) use ($Client): void
    {
        echo str_pad($what, 22), ' ';
        try {
            new $Client($options);
            echo "accepted\n";
        } catch (Throwable $e) {
            dq_show($e);
        }
    };

    echo "-- options\n";
    $try_new('unknown option', ['prefx' => 'x']);
    $try_new('unknown, case', ['Prefix' => 'x']);
    $try_new('prefix with space', ['prefix' => 'my app']);
    $try_new('prefix empty', ['prefix' => '']);
    $try_new('prefix 65 chars', ['prefix' => str_repeat('p', 65)]);
    $try_new('timeout 0', ['timeout' => 0]);
    $try_new('timeout -1', ['timeout' => -1]);
    $try_new('timeout 3601', ['timeout' => 3601]);
    $try_new('timeout NAN', ['timeout' => NAN]);
    $try_new('redis host:notaport', ['redis' => 'host:notaport']);
    $try_new('redis, password', ['redis' => 'host:notaport:s3cret']);
    $try_new('redis URL, password', ['redis' => 'redis://:s3cret@host:notaport/0']);
    $try_new('redis http://', ['redis' => 'http://127.0.0.1:6379']);
    $try_new('redis empty', ['redis' => '']);
    $try_new('redis []', ['redis' => []]);
    $try_new('redis port "x"', ['redis' => [['host' => '127.0.0.1', 'port' => 'x']]]);
    $try_new('redis db "x"', ['redis' => [['host' => '127.0.0.1', 'db' => 'x']]]);
    echo "-- accepted\n";
    $try_new('amqp and confirm', ['amqp' => 'amqp://guest:guest@127.0.0.1:5672/%2f', 'confirm' => false]);
    $try_new('all of them', ['redis' => '127.0.0.1:6379', 'prefix' => 'a-b_c.d:e', 'timeout' => 0.25, 'body_limit' => 10]);
    $try_new('redis list', ['redis' => 'redis://127.0.0.1:6379/0, 127.0.0.1:6380']);

    echo "-- addServer\n";
    foreach (['[]' => [], "''" => '', "'host:notaport'" => 'host:notaport'] as $what => $servers) {
        echo str_pad("addServer($what)", 22), ' ';
        try {
            (new $Client())->addServer($servers);
            echo "accepted\n";
        } catch (Throwable $e) {
            dq_show($e);
        }
    }

    echo "-- get/del ids\n";
    $dq = new $Client(['prefix' => $prefix]);
    foreach (["''" => '', '"a\nb"' => "a\nb", '129 bytes' => str_repeat('x', 129)] as $what => $id) {
        foreach (['get', 'del'] as $method) {
            echo str_pad("$method($what)", 22), ' ';
            try {
                var_dump($dq->$method('orders', $id));
            } catch (Throwable $e) {
                dq_show($e);
            }
        }
    }

    echo "-- types\n";
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

    show('timeout "x"', fn () => new $Client(['timeout' => 'x']));
    show('prefix 5', fn () => new $Client(['prefix' => 5]));
    show('redis 42', fn () => new $Client(['redis' => 42]));
    show('body_limit -1', fn () => new $Client(['body_limit' => -1]));
    show('body_limit "x"', fn () => new $Client(['body_limit' => 'x']));
    show('option key 5', fn () => new $Client([5 => 'x']));
    show('addServer(42)', fn () => (new $Client())->addServer(42));
    show('addServer([42])', fn () => (new $Client())->addServer([42]));
    show('get(1.5)', fn () => $dq->get('orders', 1.5));
    show('del(1.5)', fn () => $dq->del('orders', 1.5));
    show("get(['x'])", fn () => $dq->get('orders', ['x']));
    show('get(null)', fn () => $dq->get('orders', null));
    show('del(true)', fn () => $dq->del('orders', true));
    show('addMany items[1]', fn () => $dq->addMany('orders', [['id' => 'a'], 'b']));
    show('addMany items[2]', fn () => $dq->addMany('orders', [['id' => 'a'], ['id' => 'b'], 42]));
    echo "-- addMany items\n";
    foreach ([
        'delay as string' => [['id' => 'n-0'], ['id' => 'n-1', 'delay' => '5']],
        'no id' => [['id' => 'n-0'], ['body' => 'x']],
        'typo' => [['id' => 'n-0'], ['id' => 'n-1', 'fixtime' => 1]],
        'null item' => [['id' => 'n-0'], null],
        'list item' => [['id' => 'n-0'], ['n-1', 60]],
        'control char' => [['id' => 'n-0'], ['id' => "n\n1"]],
        'string keys' => ['first' => ['id' => 'k-1'], 'second' => ['id' => 'k-2', 'delay' => -5]],
        'not UTF-8 body' => [['id' => 'n-0'], ['id' => 'n-1', 'body' => ['x' => "\xff"]]],
        'unknown topic' => [['id' => 'n-0']],
    ] as $what => $items) {
        show("addMany $what", fn () => $dq->addMany($what === 'unknown topic' ? 'unregistered' : 'orders', $items));
    }
    show('addMany over limit', fn () => (new $Client(['prefix' => $prefix, 'body_limit' => 100]))->addMany('orders', [['id' => 'n-0'], ['id' => 'n-1', 'body' => str_repeat('x', 200)]]));
    PHP;
dq_ffi_show_same(dq_ffi_and_ext($code, ['prefix' => $gw->prefix]));
?>
--EXPECTF--
-- options
unknown option         Dq\InvalidArgumentException(2): unknown option "prefx" (options: redis, prefix, timeout, body_limit, replicas)
unknown, case          Dq\InvalidArgumentException(2): unknown option "Prefix" (options: redis, prefix, timeout, body_limit, replicas)
prefix with space      Dq\InvalidArgumentException(2): options['prefix']: prefix "my app" is invalid: expected 1 to 64 characters of A-Z a-z 0-9 _ . : -
prefix empty           Dq\InvalidArgumentException(2): options['prefix']: prefix "" is invalid: expected 1 to 64 characters of A-Z a-z 0-9 _ . : -
prefix 65 chars        Dq\InvalidArgumentException(2): options['prefix']: prefix "ppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp" is invalid: expected 1 to 64 characters of A-Z a-z 0-9 _ . : -
timeout 0              Dq\InvalidArgumentException(2): options['timeout']: timeout 0 is invalid: expected seconds above 0 and at most 3600
timeout -1             Dq\InvalidArgumentException(2): options['timeout']: timeout -1 is invalid: expected seconds above 0 and at most 3600
timeout 3601           Dq\InvalidArgumentException(2): options['timeout']: timeout 3601 is invalid: expected seconds above 0 and at most 3600
timeout NAN            Dq\InvalidArgumentException(2): options['timeout']: timeout NaN is invalid: expected seconds above 0 and at most 3600
redis host:notaport    Dq\InvalidArgumentException(2): options['redis']: Redis server "host:notaport" is not host:port[:auth]
redis, password        Dq\InvalidArgumentException(2): options['redis']: Redis server "host:notaport:***" is not host:port[:auth]
redis URL, password    Dq\InvalidArgumentException(2): options['redis']: Redis server "redis://:***@host:notaport/0" is not a valid URL (invalid port number): expected redis://[:password@]host:port/db or host:port[:auth]
redis http://          Dq\InvalidArgumentException(2): options['redis']: Redis server "http://127.0.0.1:6379" has scheme "http": expected redis://, rediss:// or unix://
redis empty            Dq\InvalidArgumentException(2): options['redis']: no Redis server given: expected one or more of redis://host:port/db, comma-separated
redis []               Dq\InvalidArgumentException(2): options['redis'] is empty: expected at least one server
redis port "x"         Dq\InvalidArgumentException(2): options['redis']: Redis server host "127.0.0.1" port "x" is invalid
redis db "x"           Dq\InvalidArgumentException(2): options['redis']: db "x" is not a database number
-- accepted
amqp and confirm       accepted
all of them            accepted
redis list             accepted
-- addServer
addServer([])          Dq\InvalidArgumentException(2): servers is empty: expected at least one server
addServer('')          Dq\InvalidArgumentException(2): servers: no Redis server given: expected one or more of redis://host:port/db, comma-separated
addServer('host:notaport') Dq\InvalidArgumentException(2): servers: Redis server "host:notaport" is not host:port[:auth]
-- get/del ids
get('')                Dq\InvalidArgumentException(2): id is empty: expected 1 to 128 bytes
del('')                Dq\InvalidArgumentException(2): id is empty: expected 1 to 128 bytes
get("a\nb")            Dq\InvalidArgumentException(2): id "a\nb" contains a control character
del("a\nb")            Dq\InvalidArgumentException(2): id "a\nb" contains a control character
get(129 bytes)         Dq\InvalidArgumentException(2): id "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"... is 129 bytes long: expected at most 128
del(129 bytes)         Dq\InvalidArgumentException(2): id "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"... is 129 bytes long: expected at most 128
-- types
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
-- addMany items
addMany delay as string Dq\InvalidArgumentException(2): items[1]: delay "5" is a string: expected a number of seconds from 0 to 31622400
addMany no id      Dq\InvalidArgumentException(2): items[1]: id is missing: every message needs an "id" (a string of 1 to 128 bytes)
addMany typo       Dq\InvalidArgumentException(2): items[1]: unknown field "fixtime": did you mean "fix_time"? (fields: id, body, delay, fix_time)
addMany null item  Dq\InvalidArgumentException(2): items[1] is null: expected an array with id, body and delay or fix_time
addMany list item  Dq\InvalidArgumentException(2): items[1]: unknown fields "0", "1" (fields: id, body, delay, fix_time)
addMany control char Dq\InvalidArgumentException(2): items[1]: id "n\n1" contains a control character
addMany string keys Dq\InvalidArgumentException(2): items["second"]: delay -5 is out of range: expected seconds from 0 to 31622400 (366 days)
addMany not UTF-8 body Dq\InvalidArgumentException(2): items[1]["body"]["x"]: string is not valid UTF-8
addMany unknown topic Dq\UnknownTopicException(3): topic "unregistered" is not registered under prefix "%s" on redis://127.0.0.1:6379/0: register it with PUT /v1/topics/unregistered on dq-gateway, or a [[topic]] table in the gateway's config file
addMany over limit Dq\InvalidArgumentException(2): items[1]: body is 202 bytes of JSON: the limit is 100 bytes
== the extension printed the same
