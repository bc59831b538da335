<?php
// C. Memory of a PHP process publishing with dq: VmRSS (/proc/self/status) after 10,000 and
// after 100,000 publishes, each awaiting its own confirm, then the same with publishBatch.
// A leak of even a few dozen bytes per publish shows as more than 5% between the two.
// The messages are transient, to a non-durable queue capped at 10,000 (drop-head), in a vhost
// of this run's own: what is measured is dq's publish path in PHP, not the broker's disk.
// Usage: php bench/amqp-memory.php [messages]   (see bench/amqp.sh for the php flags)

declare(strict_types=1);

require __DIR__ . '/amqp-lib.php';

bench_exit_on_signals();
$total = max(20000, (int) ($argv[1] ?? 100000));
$early = intdiv($total, 10);

function rss_kib(): int
{
    preg_match('/^VmRSS:\s+(\d+)/m', (string) file_get_contents('/proc/self/status'), $m);
    return (int) $m[1];
}

$vhost = new BenchVhost('memory');
$producer = new Dq\Producer(['amqp' => $vhost->url()]);
$queue = $producer->declareQueue('bench.memory', ['durable' => false, 'arguments' => ['x-max-length' => 10000]]);
$body = bench_body();

/** @return array{0: int, 1: int, 2: float} RSS after $early and after $total messages (KiB), msg/s */
function publish_all(callable $publish, int $early, int $total, int $step): array
{
    $started = hrtime(true);
    $rssEarly = 0;
    for ($done = 0; $done < $total; $done += $step) {
        $publish($done);
        if ($done + $step === $early) {
            $rssEarly = rss_kib();
        }
    }
    return [$rssEarly, rss_kib(), $total / ((hrtime(true) - $started) / 1e9)];
}

$start = rss_kib();
$results = [
    'publish, a confirm per message' => publish_all(function (int $i) use ($producer, $queue, $body): void {
        $producer->publish('', $queue, $body, ['persistent' => false, 'message_id' => "m-$i", 'headers' => ['x-attempt' => $i % 6]]);
    }, $early, $total, 1),
    'publishBatch, batches of 1,000' => publish_all(function (int $i) use ($producer, $queue, $body): void {
        $batch = [];
        for ($j = $i; $j < $i + 1000; $j++) {
            $batch[] = ['routing_key' => $queue, 'body' => $body, 'properties' => ['persistent' => false, 'message_id' => "b-$j"]];
        }
        $producer->publishBatch('', $batch);
    }, $early, $total, 1000),
];
$vhost->delete();

printf("  VmRSS of the PHP process: %s KiB at the start (dq.so loaded, nothing published)\n", number_format($start));
$worst = 0.0;
foreach ($results as $name => [$rssEarly, $rssEnd, $rate]) {
    $growth = ($rssEnd - $rssEarly) / $rssEarly * 100;
    $worst = max($worst, $growth);
    printf("  %-32s after %s: %s KiB, after %s: %s KiB (%+.1f%%), %s msg/s\n", $name, number_format($early),
        number_format($rssEarly), number_format($total), number_format($rssEnd), $growth, number_format($rate));
}
printf("\n  C. RSS growth from %s to %s publishes = %.1f%%  (target < 5%%)%s\n", number_format($early), number_format($total), $worst, $worst < 5 ? '' : '  << ABOVE TARGET');
printf("     PHP heap (memory_get_usage) at the end = %.1f MiB\n", memory_get_usage() / 1048576);
