--TEST--
Dq\Client: bad constructor option values, addServer arguments and get/del ids throw Dq\InvalidArgumentException (code 2) naming the option and the value
--EXTENSIONS--
dq
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';

function try_new(string $what, array $options): void
{
    echo str_pad($what, 22), ' ';
    try {
        new Dq\Client($options);
        echo "accepted\n";
    } catch (Throwable $e) {
        dq_show($e);
    }
}

echo "-- options\n";
try_new('unknown option', ['prefx' => 'x']);
try_new('unknown, case', ['Prefix' => 'x']);
try_new('prefix with space', ['prefix' => 'my app']);
try_new('prefix empty', ['prefix' => '']);
try_new('prefix 65 chars', ['prefix' => str_repeat('p', 65)]);
try_new('timeout 0', ['timeout' => 0]);
try_new('timeout -1', ['timeout' => -1]);
try_new('timeout 3601', ['timeout' => 3601]);
try_new('timeout NAN', ['timeout' => NAN]);
try_new('redis host:notaport', ['redis' => 'host:notaport']);
try_new('redis, password', ['redis' => 'host:notaport:s3cret']);
try_new('redis URL, password', ['redis' => 'redis://:s3cret@host:notaport/0']);
try_new('redis http://', ['redis' => 'http://127.0.0.1:6379']);
try_new('redis empty', ['redis' => '']);
try_new('redis []', ['redis' => []]);
try_new('redis port "x"', ['redis' => [['host' => '127.0.0.1', 'port' => 'x']]]);
try_new('redis db "x"', ['redis' => [['host' => '127.0.0.1', 'db' => 'x']]]);
echo "-- accepted\n";
try_new('amqp and confirm', ['amqp' => 'amqp://guest:guest@127.0.0.1:5672/%2f', 'confirm' => false]);
try_new('all of them', ['redis' => '127.0.0.1:6379', 'prefix' => 'a-b_c.d:e', 'timeout' => 0.25, 'body_limit' => 10]);
try_new('redis list', ['redis' => 'redis://127.0.0.1:6379/0, 127.0.0.1:6380']);

echo "-- addServer\n";
foreach (['[]' => [], "''" => '', "'host:notaport'" => 'host:notaport'] as $what => $servers) {
    echo str_pad("addServer($what)", 22), ' ';
    try {
        (new Dq\Client())->addServer($servers);
        echo "accepted\n";
    } catch (Throwable $e) {
        dq_show($e);
    }
}

echo "-- get/del ids\n";
$dq = new Dq\Client(['prefix' => dq_test_prefix('bad-options')]);
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
