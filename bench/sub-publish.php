<?php
// The messages of the subscription benchmark (bench/subscriptions.sh), published with
// Dq\Producer to a durable queue (declared here), persistent, ~100-byte JSON bodies that carry
// their number ("seq") and their publish time ("published_at", unix seconds), which the
// receiver (bench/sink.rs) reads.
//   fill AMQP_URL QUEUE COUNT: COUNT messages with publishBatch, every confirm awaited;
//     prints "published seconds".
//   stream AMQP_URL QUEUE RATE SECONDS: RATE messages a second for SECONDS, message i sent at
//     start + i / RATE, each stamped just before it is handed over (no confirm awaited, so that
//     the broker's fsync does not set the pace); prints "published seconds behind_max_ms", the
//     last the most a message was sent after its scheduled time.
// Usage: php -n -d extension=build/dq.so bench/sub-publish.php MODE AMQP_URL QUEUE ...

declare(strict_types=1);

/** A ~100-byte order event: $seq and the time it is published. */
function bench_sub_body(int $seq): string
{
    return sprintf('{"seq":%d,"published_at":%.6f,"event":"order.paid","order_id":%d,"amount":"99.50"}',
        $seq, microtime(true), 1000000 + $seq);
}

if ($argc < 5) {
    fwrite(STDERR, "usage: sub-publish.php fill AMQP_URL QUEUE COUNT | stream AMQP_URL QUEUE RATE SECONDS\n");
    exit(2);
}
[, $mode, $url, $queue] = $argv;
$properties = ['content_type' => 'application/json'];

if ($mode === 'fill') {
    $count = (int) $argv[4];
    $producer = new Dq\Producer(['amqp' => $url]);
    $producer->declareQueue($queue);
    $started = microtime(true);
    $published = 0;
    for ($seq = 0; $seq < $count; $seq += 1000) {
        $batch = [];
        for ($i = $seq, $end = min($count, $seq + 1000); $i < $end; $i++) {
            $batch[] = ['routing_key' => $queue, 'body' => bench_sub_body($i), 'properties' => $properties];
        }
        $published += $producer->publishBatch('', $batch);
    }
    printf("%d %.3f\n", $published, microtime(true) - $started);
    exit($published === $count ? 0 : 1);
}

if ($mode === 'stream' && $argc >= 6) {
    $rate = (float) $argv[4];
    $count = (int) round($rate * (float) $argv[5]);
    $producer = new Dq\Producer(['amqp' => $url, 'confirm' => false]);
    $producer->declareQueue($queue);
    $started = microtime(true);
    $behind = 0.0;
    for ($seq = 0; $seq < $count; $seq++) {
        $due = $started + $seq / $rate;
        $wait = $due - microtime(true);
        if ($wait > 0) {
            usleep((int) ($wait * 1e6));
        } else {
            $behind = max($behind, -$wait);
        }
        $producer->publish('', $queue, bench_sub_body($seq), $properties);
    }
    printf("%d %.3f %.1f\n", $count, microtime(true) - $started, $behind * 1000);
    exit(0);
}

fwrite(STDERR, "sub-publish.php: unknown mode \"$mode\" or missing arguments\n");
exit(2);
