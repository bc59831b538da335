<?php
// One publishing process of bench/amqp.sh: sets up and warms up contender <name> (one unit of
// work, not counted), says "ready", waits for "go" on stdin, publishes for <seconds>, prints
// "<messages> <elapsed seconds>". Started by bench_processes() in bench/amqp-lib.php.
// Usage: php bench/amqp-worker.php <contender> <vhost> <queue> <seconds>

declare(strict_types=1);

require __DIR__ . '/amqp-lib.php';

[, $name, $vhost, $queue, $seconds] = $argv + [4 => '2'];
try {
    [$setup, $one] = bench_contender($name, $vhost, $queue);
    $setup();
    $one();
    echo "ready\n";
    if (trim((string) fgets(STDIN)) !== 'go') {
        exit(1);   // the coordinator went away
    }
    $count = 0;
    $started = hrtime(true);
    $until = $started + (int) ((float) $seconds * 1e9);
    do {
        $count += $one();
    } while (hrtime(true) < $until);
    printf("%d %.6f\n", $count, (hrtime(true) - $started) / 1e9);
} catch (Throwable $e) {
    fwrite(STDERR, get_class($e) . ' (' . $e->getCode() . '): ' . $e->getMessage() . "\n");
    exit(1);
}
