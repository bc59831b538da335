<?php
// Adds the messages of the delivery benchmarks (bench/workers.sh) the way a PHP application
// would: DqClient::addMany in batches, each message due at a chosen unix time (fix_time).
// Message i is due at FIRST_DUE + i / RATE (RATE 0: all at FIRST_DUE).
// Usage: php -n -d extension=build/dq.so bench/delivery-load.php PREFIX TOPIC COUNT FIRST_DUE RATE [BATCH]
// Redis: DQ_REDIS if set. Prints "added started finished" (unix seconds) when done.
if ($argc < 6) {
    fwrite(STDERR, "usage: delivery-load.php PREFIX TOPIC COUNT FIRST_DUE RATE [BATCH]\n");
    exit(2);
}
[, $prefix, $topic, $count, $first, $rate] = $argv;
$count = (int) $count;
$first = (float) $first;
$rate = (float) $rate;
$batch = (int) ($argv[6] ?? 1000);

$options = ['prefix' => $prefix];
if (getenv('DQ_REDIS')) {
    $options['redis'] = getenv('DQ_REDIS');
}
$dq = new DqClient($options);
$started = microtime(true);
$added = 0;
for ($i = 0; $i < $count; $i += $batch) {
    $items = [];
    for ($j = $i, $end = min($count, $i + $batch); $j < $end; $j++) {
        $items[] = [
            'id' => "m$j",
            'body' => ['order_id' => 123, 'amount' => '9.99'],
            'fix_time' => $rate > 0 ? round($first + $j / $rate, 3) : $first,
        ];
    }
    $added += $dq->addMany($topic, $items);
}
printf("%d %.6f %.6f\n", $added, $started, microtime(true));
