<?php
// RabbitMQ publishing, a confirm per message (persistent messages, a durable queue), dq against
// php-amqplib and pecl amqp, in one run: the contenders take turns for several rounds (each
// round in its own fresh queue, deleted afterwards), and medians are compared.
//   A. the per-request pattern of PHP-FPM: each "request" publishes one message and waits for
//      its confirm, 1 process and N processes at once (rates summed);
//   B. a long-lived loop on one connection, and dq's publishBatch; the loop again in a process
//      that also consumes (dq then publishes through its background thread's connection);
//   B'. the loops with transient messages to a non-durable queue (no fsync: the clients' cost).
// Each of A (1 process), A (N processes) and B runs in a vhost of its own, deleted afterwards.
// Usage (see bench/amqp.sh for the php flags): php bench/amqp-publish.php [rounds] [seconds] [processes]

declare(strict_types=1);

require __DIR__ . '/amqp-lib.php';

bench_exit_on_signals();
$rounds = max(1, (int) ($argv[1] ?? 3));
$seconds = max(0.5, (float) ($argv[2] ?? 2.0));
$many = max(2, (int) ($argv[3] ?? 8));

/**
 * @param array<string, string> $contenders label => contender (bench_contender)
 * @return array<string, list<float>> label => rate of each round
 */
function measure(string $label, array $contenders, int $processes, int $rounds, float $seconds): array
{
    $vhost = new BenchVhost($label);
    $connection = new AMQPConnection(bench_pecl_credentials($vhost->name));
    $connection->connect();
    $channel = new AMQPChannel($connection);
    $rates = array_fill_keys(array_keys($contenders), []);
    $labels = array_keys($contenders);
    for ($round = 0; $round < $rounds; $round++) {
        // A different contender goes first in each round.
        $order = array_merge(array_slice($labels, $round % count($labels)), array_slice($labels, 0, $round % count($labels)));
        foreach ($order as $name) {
            $queue = new AMQPQueue($channel);
            $queue->setName("bench.{$contenders[$name]}.$round");
            $queue->setFlags(str_ends_with($contenders[$name], '-transient') ? AMQP_NOPARAM : AMQP_DURABLE);
            $queue->declareQueue();
            $rates[$name][] = bench_processes($contenders[$name], $processes, $vhost, $queue->getName(), $seconds);
            $queue->delete();
        }
    }
    $connection->disconnect();
    $vhost->delete();
    return $rates;
}

$perRequest = [
    'dq (the process\'s pooled connection)' => 'dq-request',
    'php-amqplib (connect per request)' => 'amqplib-request',
    'pecl amqp (pconnect, channel per request)' => 'pecl-request',
];
echo "  persistent ~200-byte messages to a durable queue, a publisher confirm awaited per message;\n";
printf("  %d rounds of %.1f s, contenders in turn; median msg/s (min-max)\n", $rounds, $seconds);

echo "\n  A. per-request pattern (each request: publish one message, wait for its confirm), 1 process\n";
$one = measure('request-1', $perRequest, 1, $rounds, $seconds);
foreach ($one as $name => $rates) {
    printf("  %-44s %s\n", $name, bench_rate($rates));
}
echo "\n  A. per-request pattern, $many processes at once (rates summed)\n";
$all = measure("request-$many", $perRequest, $many, $rounds, $seconds);
foreach ($all as $name => $rates) {
    printf("  %-44s %s\n", $name, bench_rate($rates));
}

echo "\n  B. long-lived loop, one connection, 1 process\n";
$loop = measure('loop', [
    'dq, a confirm per message' => 'dq-loop',
    'php-amqplib, wait_for_pending_acks per msg' => 'amqplib-loop',
    'pecl amqp, waitForConfirm per message' => 'pecl-loop',
    'dq publishBatch, batches of 1,000' => 'dq-batch',
    'pecl amqp, 1,000 then waitForConfirm' => 'pecl-batch',
    'dq, a process that also consumes' => 'dq-loop-consuming',
], 1, $rounds, $seconds);
foreach ($loop as $name => $rates) {
    printf("  %-44s %s\n", $name, bench_rate($rates));
}

echo "\n  B'. the same loop with transient messages to a non-durable queue: no fsync, so what is left\n";
echo "      is each client's own cost per publish and confirm\n";
$light = measure('transient', [
    'dq, a confirm per message' => 'dq-loop-transient',
    'php-amqplib, wait_for_pending_acks per msg' => 'amqplib-loop-transient',
    'pecl amqp, waitForConfirm per message' => 'pecl-loop-transient',
    'dq, a process that also consumes' => 'dq-loop-consuming-transient',
], 1, $rounds, $seconds);
foreach ($light as $name => $rates) {
    printf("  %-44s %s\n", $name, bench_rate($rates));
}

[$dq1, $lib1, $pecl1] = array_map('bench_median', array_values($one));
[$dqN, $libN, $peclN] = array_map('bench_median', array_values($all));
[$dqLoop, $libLoop, $peclLoop, $batch, $ceiling, $consuming] = array_map('bench_median', array_values($loop));
$faster = max($libLoop, $peclLoop);
$fasterName = $libLoop >= $peclLoop ? 'php-amqplib' : 'pecl amqp';
echo "\n";
printf("  A. dq / php-amqplib, 1 process             = %s\n", bench_ratio($dq1 / $lib1, 5, 'the issue: 1,940 / 321 = 6.0x'));
printf("  A. dq / php-amqplib, %d processes %s= %s\n", $many, str_repeat(' ', max(0, 9 - strlen((string) $many))), bench_ratio($dqN / $libN, 10, 'the issue: 7,181 / 644 = 11.2x'));
printf("  A. dq / pecl amqp pconnect, 1 and %d proc. = %.2fx and %.2fx\n", $many, $dq1 / $pecl1, $dqN / $peclN);
printf("  A. dq, %d processes / 1 process %s= %.2fx  (a confirm per message: the broker's fsync sets the limit)\n", $many, str_repeat(' ', max(0, 10 - strlen((string) $many))), $dqN / $dq1);
printf("  B. dq loop / faster of the others         = %s\n", bench_ratio($dqLoop / $faster, 1.0, "the faster: $fasterName"));
printf("  B. dq loop, a process that also consumes  = %.2fx the faster  (publishing through the background thread's connection)\n", $consuming / $faster);
[$dqLight, $libLight, $peclLight, $consumingLight] = array_map('bench_median', array_values($light));
$fasterLight = max($libLight, $peclLight);
printf("  B'. transient: dq loop / the faster        = %.2fx  (the faster: %s)\n", $dqLight / $fasterLight, $libLight >= $peclLight ? 'php-amqplib' : 'pecl amqp');
printf("  B'. transient: a consuming process / it   = %.2fx\n", $consumingLight / $fasterLight);
printf("  B. publishBatch / that faster one         = %s\n", bench_ratio($batch / $faster, 10));
printf("  B. publishBatch / broker's batch ceiling  = %.2fx  (pecl amqp batches: what this broker takes; 10x the loop is %s msg/s)\n", $batch / $ceiling, number_format(10 * $faster));
