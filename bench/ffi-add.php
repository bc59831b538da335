<?php
// DqFfi\Client::add (examples/ffi/DqFfi.php over libdq.so) per second vs Dq\Client::add (dq.so)
// per second: one PHP process with both loaded (DqFfi.php declares the Dq\ exceptions only when
// dq.so has not), the same topic, message and Redis, measured in turn for several rounds;
// medians are compared. The topic is registered through a private dq-gateway on a prefix of its
// own, whose keys are removed at the end.
// Usage: php -n -d extension=ffi -d ffi.enable=1 -d extension=build/dq.so -d extension=igbinary \
//            -d extension=redis bench/ffi-add.php [messages, 20000] [rounds, 5]
require __DIR__ . '/../php-tests/inc/dq.inc';
require __DIR__ . '/../examples/ffi/DqFfi.php';

foreach (['ffi' => 'extension=ffi -d ffi.enable=1', 'dq' => 'extension=build/dq.so', 'redis' => 'extension=redis (for the cleanup)'] as $ext => $how) {
    if (!extension_loaded($ext)) {
        fwrite(STDERR, "bench/ffi-add.php needs the $ext extension: php -d $how\n");
        exit(2);
    }
}
$n = (int) ($argv[1] ?? 20000);
$rounds = (int) ($argv[2] ?? 5);
$gw = new TestGateway(dq_test_prefix('bench-ffi-add'));
$gw->topic('bench', ['status' => 'paused']);
$body = ['order_id' => 123456, 'amount' => 99.5, 'merchant' => 'm-42', 'notify' => 'https://merchant.example/notify'];

$contenders = [
    'Dq\Client::add (dq.so)' => new Dq\Client(['prefix' => $gw->prefix]),
    'DqFfi\Client::add (FFI)' => new DqFfi\Client(['prefix' => $gw->prefix]),
];
$run = function (object $dq, int $count, string $tag) use ($body): void {
    for ($i = 0; $i < $count; $i++) {
        $dq->add('bench', ['id' => "$tag-$i", 'body' => $body, 'delay' => 60]);
    }
};

$rates = $cpu = array_fill_keys(array_keys($contenders), []);
/** CPU seconds of this process so far, all threads (libdq.so's and dq.so's Redis I/O included). */
$cpuTime = function (): float {
    $usage = getrusage();
    return $usage['ru_utime.tv_sec'] + $usage['ru_stime.tv_sec'] + ($usage['ru_utime.tv_usec'] + $usage['ru_stime.tv_usec']) / 1e6;
};
foreach ($contenders as $name => $dq) {
    $run($dq, 1000, "warm-$name");
}
for ($round = 0; $round < $rounds; $round++) {
    foreach ($contenders as $name => $dq) {
        [$started, $cpuStarted] = [hrtime(true), $cpuTime()];
        $run($dq, $n, "r$round-$name");
        $rates[$name][] = $n / ((hrtime(true) - $started) / 1e9);
        $cpu[$name][] = ($cpuTime() - $cpuStarted) / $n * 1e6;
    }
}

function median(array $values): float
{
    sort($values);
    return $values[intdiv(count($values), 2)];
}

printf("  %d messages per round, %d rounds, median (min-max):\n", $n, $rounds);
foreach ($rates as $name => $values) {
    printf("  %-26s %8.0f msg/s  (%.0f-%.0f)  %5.1f us CPU per add\n", $name, median($values), min($values), max($values), median($cpu[$name]));
}
[$ext, $ffi] = array_map('median', array_values($rates));
printf("\n  FFI add / dq.so add          = %.2fx  (target >= 0.70x)\n", $ffi / $ext);
printf("  CPU per add, FFI / dq.so     = %.2fx\n", median($cpu['DqFfi\Client::add (FFI)']) / median($cpu['Dq\Client::add (dq.so)']));
printf("  stored                       = %d messages\n", (new Dq\Client(['prefix' => $gw->prefix]))->stats('bench')['delayed']);
