<?php
// DqClient::add per second vs phpredis doing the equivalent writes (pipelined HSET + ZADD, one
// round trip per message), and DqClient::addMany vs single adds: one PHP process, one run, the
// three measured in turn for several rounds; medians are compared.
// Usage: php -d extension=build/dq.so -d extension=redis bench/php-add.php [messages] [rounds]
require __DIR__ . '/../php-tests/inc/dq.inc';

$n = (int) ($argv[1] ?? 20000);
$rounds = (int) ($argv[2] ?? 5);
$gw = new TestGateway(dq_test_prefix('bench-add'));
$gw->topic('bench', ['status' => 'paused']);
$prefix = $gw->prefix;
$body = ['order_id' => 123456, 'amount' => 99.5, 'merchant' => 'm-42', 'notify' => 'https://merchant.example/notify'];

$redis = new Redis();
$redis->connect('127.0.0.1', 6379);
$dq = new DqClient(['prefix' => $prefix]);
$batch = 100;

$contenders = [
    'phpredis pipelined HSET+ZADD' => function (int $count, string $tag) use ($redis, $prefix, $body) {
        $hash = "$prefix:phpredis:body";
        $zset = "$prefix:phpredis:delayed";
        $due = (int) (microtime(true) * 1000) + 60000;
        for ($i = 0; $i < $count; $i++) {
            $id = "$tag-$i";
            $redis->multi(Redis::PIPELINE)
                ->hSet($hash, $id, json_encode($body))
                ->zAdd($zset, $due, $id)
                ->exec();
        }
    },
    'DqClient::add' => function (int $count, string $tag) use ($dq, $body) {
        for ($i = 0; $i < $count; $i++) {
            $dq->add('bench', ['id' => "$tag-$i", 'body' => $body, 'delay' => 60]);
        }
    },
    "DqClient::addMany (batches of $batch)" => function (int $count, string $tag) use ($dq, $body, $batch) {
        for ($i = 0; $i < $count; $i += $batch) {
            $items = [];
            for ($j = $i; $j < min($count, $i + $batch); $j++) {
                $items[] = ['id' => "many-$tag-$j", 'body' => $body, 'delay' => 60];
            }
            $dq->addMany('bench', $items);
        }
    },
];

$rates = array_fill_keys(array_keys($contenders), []);
foreach ($contenders as $run) {
    $run(1000, 'warm');
}
for ($round = 0; $round < $rounds; $round++) {
    foreach ($contenders as $name => $run) {
        $started = hrtime(true);
        $run($n, "r$round");
        $rates[$name][] = $n / ((hrtime(true) - $started) / 1e9);
    }
}

function median(array $values): float
{
    sort($values);
    return $values[intdiv(count($values), 2)];
}

printf("  %d messages per round, %d rounds, median (min-max):\n", $n, $rounds);
foreach ($rates as $name => $values) {
    printf("  %-38s %8.0f msg/s  (%.0f-%.0f)\n", $name, median($values), min($values), max($values));
}
[$phpredis, $single, $many] = array_map('median', array_values($rates));
printf("\n  DqClient::add / phpredis         = %.2fx  (target >= 0.80x)\n", $single / $phpredis);
printf("  addMany / DqClient::add          = %.1fx  (target >= 5x)\n", $many / $single);
printf("  DqClient::add / php-delayqueue   = %.0fx  (its published 2,400 adds/s on 8 cores)\n", $single / 2400);
printf("  peak memory of this PHP process  = %.1f MiB\n", memory_get_peak_usage(true) / 1048576);
