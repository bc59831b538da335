<?php
// A pull worker of the pull benchmark (bench/workers.sh): reserves and acks jobs of TOPIC until
// none comes for 0.5 s. Usage: php -n -d extension=build/dq.so bench/pull-worker.php PREFIX TOPIC
// Redis: DQ_REDIS if set. Prints "jobs first_reserved last_acked cpu_seconds" (unix seconds).
if ($argc < 3) {
    fwrite(STDERR, "usage: pull-worker.php PREFIX TOPIC\n");
    exit(2);
}
[, $prefix, $topic] = $argv;
$options = ['prefix' => $prefix];
if (getenv('DQ_REDIS')) {
    $options['redis'] = getenv('DQ_REDIS');
}
$dq = new Dq\Client($options);
$jobs = 0;
$first = $last = 0.0;
while ($job = $dq->reserve($topic, 0.5)) {
    if ($jobs === 0) {
        $first = microtime(true);
    }
    $job->ack();
    $jobs++;
    $last = microtime(true);
}
$usage = getrusage();
$cpu = $usage['ru_utime.tv_sec'] + $usage['ru_utime.tv_usec'] / 1e6 + $usage['ru_stime.tv_sec'] + $usage['ru_stime.tv_usec'] / 1e6;
printf("%d %.6f %.6f %.3f\n", $jobs, $first, $last, $cpu);
