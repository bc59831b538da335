--TEST--
Pull mode: Dq\Client::reserve() and Dq\Job end to end (ack, retry on the ladder, fail to the dead letters, an abandoned lease reserved again, two processes never holding one job), a push topic refusing reserve
--EXTENSIONS--
dq
pcntl
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$gw = new TestGateway(dq_test_prefix('pull'));
$gw->topic('jobs', ['mode' => 'pull', 'retry' => [0.2, 0.4], 'timeout_ms' => 400]);
$gw->topic('pushed');
$dq = new Dq\Client(['prefix' => $gw->prefix]);

echo "-- nothing due: null after the wait\n";
[$job, $waited] = dq_timed(fn () => $dq->reserve('jobs', 0.3));
var_dump($job, $waited >= 0.29 && $waited < 1.0);

echo "-- reserve and ack\n";
$dq->add('jobs', ['id' => 'a', 'body' => ['order' => 7]]);
$job = $dq->reserve('jobs', 1.0);
echo get_class($job), ' ', $job->topic(), '/', $job->id(), ' attempt ', $job->attempt(), ' of ', $job->maxAttempts(), "\n";
var_dump($job->body(), is_float($job->dueAt()), $job->leaseExpiresAt() > $job->dueAt(), $job->settled());
echo 'state while reserved: ', $dq->get('jobs', 'a')['state'], "\n";
$job->ack();
var_dump($job->settled(), $dq->get('jobs', 'a'));
try {
    $job->ack();
} catch (Dq\InvalidArgumentException $e) {
    dq_show($e);
}

echo "-- a delayed job is reserved at its due time, with no gateway workers running\n";
$dq->add('jobs', ['id' => 'later', 'delay' => 0.5]);
var_dump($dq->reserve('jobs', 0));
[$job, $waited] = dq_timed(fn () => $dq->reserve('jobs', 5.0));
echo $job->id(), ' after about 0.5 s: ', var_export($waited > 0.3 && $waited < 2.0, true), "\n";

echo "-- retry on the ladder, then the last attempt makes a dead letter\n";
var_dump($job->retry());
echo 'state: ', $dq->get('jobs', 'later')['state'], "\n";
$job = $dq->reserve('jobs', 3.0);
echo 'attempt ', $job->attempt(), "\n";
var_dump($job->retry(0));
$job = $dq->reserve('jobs', 3.0);
echo 'attempt ', $job->attempt(), "\n";
var_dump($job->retry());
$dead = $dq->get('jobs', 'later');
echo $dead['state'], ': ', $dead['last_error'], "\n";

echo "-- fail: a dead letter at once, with the reason\n";
$dq->add('jobs', ['id' => 'bad']);
$job = $dq->reserve('jobs');
$job->fail('customer 7 does not exist');
$dead = $dq->get('jobs', 'bad');
echo $dead['state'], ': ', $dead['last_error'], "\n";

echo "-- an abandoned lease: reserved again after timeout_ms, the old lease refused\n";
$dq->add('jobs', ['id' => 'crash']);
$first = $dq->reserve('jobs');
var_dump($dq->reserve('jobs', 0));
$second = $dq->reserve('jobs', 3.0);
echo $second->id(), ' attempt ', $second->attempt(), "\n";
try {
    $first->ack();
} catch (Dq\Exception $e) {
    echo get_class($e), ' code ', $e->getCode(), ': ', substr($e->getMessage(), 0, 70), "\n";
}
$second->ack();

echo "-- bad arguments\n";
foreach ([[-1.0], [61.0], [NAN]] as [$timeout]) {
    try {
        $dq->reserve('jobs', $timeout);
    } catch (Dq\InvalidArgumentException $e) {
        dq_show($e);
    }
}
$dq->add('jobs', ['id' => 'x']);
$job = $dq->reserve('jobs');
try {
    $job->retry(-5);
} catch (Dq\InvalidArgumentException $e) {
    dq_show($e);
}
var_dump($job->settled());
$job->ack();
try {
    $dq->reserve('pushed', 0);
} catch (Dq\InvalidArgumentException $e) {
    echo get_class($e), ': ', explode(';', $e->getMessage())[0], "\n";
}
try {
    $dq->reserve('missing', 0);
} catch (Dq\UnknownTopicException $e) {
    echo get_class($e), "\n";
}

echo "-- two processes reserving 60 jobs: each exactly once\n";
$gw->topic('many', ['mode' => 'pull', 'timeout_ms' => 60000]);
$items = [];
for ($i = 0; $i < 60; $i++) {
    $items[] = ['id' => "m$i", 'body' => $i];
}
$dq->addMany('many', $items);
$files = [];
$pids = [];
for ($w = 0; $w < 2; $w++) {
    $files[$w] = tempnam(sys_get_temp_dir(), 'dq-pull-');
    $pid = pcntl_fork();
    if ($pid === 0) {
        $mine = new Dq\Client(['prefix' => $gw->prefix]);
        $ids = [];
        while ($job = $mine->reserve('many', 0.3)) {
            $ids[] = $job->id();
            $job->ack();
        }
        file_put_contents($files[$w], implode("\n", $ids));
        exit(0);
    }
    $pids[] = $pid;
}
foreach ($pids as $pid) {
    pcntl_waitpid($pid, $status);
}
$all = [];
foreach ($files as $file) {
    $all = array_merge($all, array_filter(explode("\n", (string) file_get_contents($file))));
    unlink($file);
}
echo count($all), ' reserved, ', count(array_unique($all)), ' distinct; left: ', json_encode($dq->stats('many')), "\n";
?>
--EXPECTF--
-- nothing due: null after the wait
NULL
bool(true)
-- reserve and ack
Dq\Job jobs/a attempt 1 of 3
array(1) {
  ["order"]=>
  int(7)
}
bool(true)
bool(true)
bool(false)
state while reserved: inflight
bool(true)
NULL
Dq\InvalidArgumentException(2): job "a" of topic "jobs" was acked already: a job is settled once (ack, retry or fail)
-- a delayed job is reserved at its due time, with no gateway workers running
NULL
later after about 0.5 s: true
-- retry on the ladder, then the last attempt makes a dead letter
bool(true)
state: delayed
attempt 2
bool(true)
attempt 3
bool(false)
dead: retry asked by the worker after the last of 3 attempts
-- fail: a dead letter at once, with the reason
dead: customer 7 does not exist
-- an abandoned lease: reserved again after timeout_ms, the old lease refused
NULL
crash attempt 2
Dq\Exception code 11: job "crash" of topic "jobs" is no longer reserved by this lease: the l
-- bad arguments
Dq\InvalidArgumentException(2): timeout -1 is out of range: expected seconds from 0 to 60
Dq\InvalidArgumentException(2): timeout 61 is out of range: expected seconds from 0 to 60
Dq\InvalidArgumentException(2): timeout NaN is not a number: expected seconds from 0 to 60
Dq\InvalidArgumentException(2): delay -5 is out of range: expected seconds from 0 to 31622400 (366 days)
bool(false)
Dq\InvalidArgumentException: topic "pushed" is a push topic: dq-gateway delivers its messages to http://127.0.0.1:9/never, so they cannot be reserved
Dq\UnknownTopicException
-- two processes reserving 60 jobs: each exactly once
60 reserved, 60 distinct; left: {"delayed":0,"ready":0,"inflight":0,"dead":0}
