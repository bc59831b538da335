<?php
// DqClient::add per second vs phpredis doing the equivalent writes (pipelined HSET + ZADD, one
// round trip per message), and DqClient::addMany vs single adds, in one process, one run.
// Usage: php -d extension=build/dq.so -d extension=redis bench/php-add.php [messages]
require __DIR__ . '/../php-tests/inc/dq.inc';

$n = (int) ($argv[1] ?? 20000);
$gw = new TestGateway(dq_test_prefix('bench-add'));
$gw->topic('bench');
$prefix = $gw->prefix;

function rate(string $name, int $n, callable $run): float
{
    $run(min(1000, $n), 'warm');
    $started = hrtime(true);
    $run($n, 'run');
    $seconds = (hrtime(true) - $started) / 1e9;
    $rate = $n / $seconds;
    printf("  %-44s %8.0f msg/s  (%d in %.2f s)\n", $name, $rate, $n, $seconds);
    return $rate;
}

$body = ['order_id' => 123456, 'amount' => 99.5, 'merchant' => 'm-42', 'notify' => 'https://merchant.example/notify'];

$redis = new Redis();
$redis->connect('127.0.0.1', 6379);
$phpredis = rate('phpredis pipelined HSET+ZADD', $n, function (int $count, string $tag) use ($redis, $prefix, $body) {
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
});

$dq = new DqClient(['prefix' => $prefix]);
$single = rate('DqClient::add', $n, function (int $count, string $tag) use ($dq, $body) {
    for ($i = 0; $i < $count; $i++) {
        $dq->add('bench', ['id' => "$tag-$i", 'body' => $body, 'delay' => 60]);
    }
});

$batch = 100;
$many = rate("DqClient::addMany (batches of $batch)", $n, function (int $count, string $tag) use ($dq, $body, $batch) {
    for ($i = 0; $i < $count; $i += $batch) {
        $items = [];
        for ($j = $i; $j < min($count, $i + $batch); $j++) {
            $items[] = ['id' => "many-$tag-$j", 'body' => $body, 'delay' => 60];
        }
        $dq->addMany('bench', $items);
    }
});

printf("\n  DqClient::add / phpredis       = %.2fx  (target >= 0.80x)\n", $single / $phpredis);
printf("  addMany / DqClient::add        = %.1fx  (target >= 5x)\n", $many / $single);
printf("  php-delayqueue (reference)     ~ 2,400 adds/s on 8 cores: DqClient::add = %.1fx\n", $single / 2400);
printf("  peak RSS of this PHP process   = %.1f MiB\n", memory_get_peak_usage(true) / 1048576);
