--TEST--
DqFfi\Client::reserve and DqFfi\Job over libdq.so: reserve, ack, retry on the ladder and to the dead letters, fail, the lease lost (code 11), settled once, the same messages as dq.so
--EXTENSIONS--
ffi
--SKIPIF--
<?php require __DIR__ . '/inc.php'; dq_ffi_skipif(); ?>
--FILE--
<?php
require __DIR__ . '/inc.php';
$gw = new TestGateway(dq_test_prefix('ffi-pull'));
$gw->topic('jobs', ['mode' => 'pull', 'retry' => [0.1], 'timeout_ms' => 300]);
$gw->topic('pushed');
$dq = new DqFfi\Client(['prefix' => $gw->prefix]);

var_dump($dq->reserve('jobs', 0.1));
$dq->add('jobs', ['id' => 'a', 'body' => ['n' => 1]]);
$job = $dq->reserve('jobs');
echo get_class($job), ' ', $job->topic(), '/', $job->id(), ' attempt ', $job->attempt(), ' of ', $job->maxAttempts(), ' ', json_encode($job->body()), "\n";
var_dump($job->leaseExpiresAt() > $job->dueAt());
$job->ack();
var_dump($job->settled(), $dq->get('jobs', 'a'));
try {
    $job->ack();
} catch (Dq\InvalidArgumentException $e) {
    dq_show($e);
}

$dq->add('jobs', ['id' => 'b']);
$job = $dq->reserve('jobs');
var_dump($job->retry());
$job = $dq->reserve('jobs', 2.0);
echo 'attempt ', $job->attempt(), "\n";
var_dump($job->retry(0));
echo $dq->get('jobs', 'b')['state'], ': ', $dq->get('jobs', 'b')['last_error'], "\n";

$dq->add('jobs', ['id' => 'c']);
$dq->reserve('jobs')->fail('no such order');
echo $dq->get('jobs', 'c')['state'], ': ', $dq->get('jobs', 'c')['last_error'], "\n";

$dq->add('jobs', ['id' => 'd']);
$first = $dq->reserve('jobs');
$second = $dq->reserve('jobs', 2.0);
echo 'again: ', $second->id(), ' attempt ', $second->attempt(), "\n";
try {
    $first->ack();
} catch (Dq\Exception $e) {
    echo get_class($e), ' code ', $e->getCode(), "\n";
}
var_dump($first->settled());
$second->ack();

foreach ([fn () => $dq->reserve('jobs', -1), fn () => $dq->reserve('jobs', 61), fn () => $dq->reserve('pushed', 0)] as $call) {
    try {
        $call();
    } catch (Dq\Exception $e) {
        echo get_class($e), '(', $e->getCode(), '): ', explode(';', $e->getMessage())[0], "\n";
    }
}
$dq->add('jobs', ['id' => 'e']);
$job = $dq->reserve('jobs');
try {
    $job->retry(-5);
} catch (Dq\InvalidArgumentException $e) {
    dq_show($e);
}
$job->ack();
// The same messages as the extension's.
echo dq_ffi_ext_run('$dq = new Dq\Client(["prefix" => $prefix]);
try { $dq->reserve("jobs", -1); } catch (Dq\Exception $e) { echo get_class($e), "(", $e->getCode(), "): ", explode(";", $e->getMessage())[0], "\n"; }', ['prefix' => $gw->prefix]);
?>
--EXPECT--
NULL
DqFfi\Job jobs/a attempt 1 of 2 {"n":1}
bool(true)
bool(true)
NULL
Dq\InvalidArgumentException(2): job "a" of topic "jobs" was acked already: a job is settled once (ack, retry or fail)
bool(true)
attempt 2
bool(false)
dead: retry asked by the worker after the last of 2 attempts
dead: no such order
again: d attempt 2
Dq\Exception code 11
bool(true)
Dq\InvalidArgumentException(2): timeout -1 is out of range: expected seconds from 0 to 60
Dq\InvalidArgumentException(2): timeout 61 is out of range: expected seconds from 0 to 60
Dq\InvalidArgumentException(2): topic "pushed" is a push topic: dq-gateway delivers its messages to http://127.0.0.1:9/never, so they cannot be reserved
Dq\InvalidArgumentException(2): delay -5 is out of range: expected seconds from 0 to 31622400 (366 days)
Dq\InvalidArgumentException(2): timeout -1 is out of range: expected seconds from 0 to 60
