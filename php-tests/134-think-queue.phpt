--TEST--
think-queue over dq pull topics (Dq\Think\Connector, Dq\Think\Job against think-queue 3.x's abstract Connector and Job): push, pushOn, later (seconds, DateTimeInterface, DateInterval), pop, fire, delete, release with a delay, attempts, a job that keeps failing becomes a dq dead letter through the Worker's fail path, the topic's max_attempts, pushRaw, config errors
--EXTENSIONS--
dq
--FILE--
<?php
namespace app\job {
    /** A job handler as an application writes one (app/job/SendMail.php). */
    class SendMail
    {
        public static array $log = [];

        public function fire(\think\queue\Job $job, $data): void
        {
            self::$log[] = sprintf('fire %s attempt %d', $data['to'], $job->attempts());
            if ($data['mode'] === 'throw') {
                throw new \RuntimeException("mail server refused {$data['to']}");
            }
            if ($data['mode'] === 'release' && $job->attempts() === 1) {
                $job->release(1);
                return;
            }
            if ($data['mode'] !== 'keep') {
                $job->delete();
            }
        }

        public function failed($data, $e): void
        {
            self::$log[] = sprintf('failed hook %s: %s', $data['to'], $e->getMessage());
        }
    }
}

namespace {
    require __DIR__ . '/inc/dq.inc';
    require __DIR__ . '/inc/drivers.inc';
    require __DIR__ . '/inc/think/autoload.php';

    use app\job\SendMail;
    use Dq\Think\Connector;

    /**
     * think\queue\Worker::process() with its fail path (markJobAsFailedIfAlreadyExceedsMaxAttempts,
     * markJobAsFailedIfWillExceedMaxAttempts, failJob), without its events; $maxTries is --tries
     * and $delay --delay of `php think queue:work`.
     */
    function process(think\queue\Job $job, int $maxTries = 0, $delay = 0): string
    {
        $maxTries = $job->maxTries() ?? $maxTries;
        try {
            if ($maxTries > 0 && $job->attempts() > $maxTries) {
                fail_job($job, $e = new RuntimeException($job->getName() . ' has been attempted too many times or run too long.'));
                throw $e;
            }
            $job->fire();
            return 'processed';
        } catch (Throwable $e) {
            try {
                if (!$job->hasFailed() && $maxTries > 0 && $job->attempts() >= $maxTries) {
                    fail_job($job, $e);
                }
            } finally {
                if (!$job->isDeleted() && !$job->isReleased() && !$job->hasFailed()) {
                    $job->release($delay);
                }
            }
            return get_class($e) . ': ' . $e->getMessage();
        }
    }

    function fail_job(think\queue\Job $job, Throwable $e): void
    {
        $job->markAsFailed();
        if ($job->isDeleted()) {
            return;
        }
        $job->delete();
        $job->failed($e);
    }

    /** pop() until a job comes (a released or delayed job is due soon). */
    function pop_soon(Connector $connector, ?string $queue = null): think\queue\Job
    {
        $job = null;
        dq_eventually(function () use ($connector, $queue, &$job) {
            return ($job = $connector->pop($queue)) !== null;
        }, 20.0);
        return $job ?? throw new RuntimeException('no job came');
    }

    /** A message's state in dq, as a user would look it up. */
    function show(?array $message): string
    {
        return match ($message['state'] ?? null) {
            null => 'gone',
            'dead' => 'dead: ' . $message['last_error'],
            // A due message is "delayed" until a reserve moves it: either is waiting.
            'delayed', 'ready' => 'waiting',
            default => $message['state'],
        };
    }

    $gw = new TestGateway(dq_test_prefix('think'));
    $gw->topic('mail', ['mode' => 'pull', 'timeout_ms' => 60000]);
    $gw->topic('reports', ['mode' => 'pull', 'timeout_ms' => 60000, 'max_attempts' => 2]);
    $dq = new Dq\Client(['prefix' => $gw->prefix]);
    // As think\Queue creates it from config/queue.php: the container hands the config to the constructor.
    $connector = (new Connector(['type' => Connector::class, 'queue' => 'mail', 'prefix' => $gw->prefix, 'block_for' => 0.2]))
        ->setApp(new think\App('app'))
        ->setConnection('dq');
    echo get_class($connector), ' extends ', get_parent_class($connector), "\n";

    echo "-- push, pop, fire, delete\n";
    $id = $connector->push('SendMail', ['to' => 'ann@example.com', 'mode' => 'ok']);
    $stored = $dq->get('mail', $id);
    echo 'pushed ', strlen($id), ' hex chars, size ', $connector->size(), ', in dq: ', $stored['state'], ' ', json_encode($stored['body']['data']), "\n";
    $job = $connector->pop();
    echo get_class($job), ' ', $job->getJobId() === $id ? 'same id' : 'other id', ', ', $job->getName(), ' on ', $job->getConnection(), '/', $job->getQueue(), ', attempt ', $job->attempts(), ', data.to ', $job->payload('data.to'), "\n";
    echo 'raw body is the pushed payload: ', var_export(json_decode($job->getRawBody(), true) == $stored['body'], true), "\n";
    echo process($job), '; ', implode('; ', SendMail::$log), '; deleted: ', var_export($job->isDeleted(), true), ', in dq: ', show($dq->get('mail', $id)), ', size ', $connector->size(), "\n";

    echo "-- pushOn another queue, bulk\n";
    SendMail::$log = [];
    $connector->pushOn('reports', 'SendMail', ['to' => 'bob@example.com', 'mode' => 'ok']);
    $connector->bulk(['SendMail', 'SendMail'], ['to' => 'cat@example.com', 'mode' => 'ok']);
    echo 'sizes: mail ', $connector->size('mail'), ', reports ', $connector->size('reports'), "\n";
    foreach (['reports', 'mail', 'mail'] as $queue) {
        process($connector->pop($queue));
    }
    echo implode('; ', SendMail::$log), '; sizes ', $connector->size('mail'), ' ', $connector->size('reports'), "\n";

    echo "-- later: seconds, DateTimeInterface, DateInterval\n";
    $at = microtime(true);
    $ids = [
        60 => $connector->later(60, 'SendMail', ['to' => 'dan@example.com', 'mode' => 'ok']),
        7200 => $connector->later(new DateTimeImmutable('+2 hours'), 'SendMail', ['to' => 'eve@example.com', 'mode' => 'ok']),
        1800 => $connector->laterOn('mail', new DateInterval('PT30M'), 'SendMail', ['to' => 'fay@example.com', 'mode' => 'ok']),
    ];
    foreach ($ids as $seconds => $laterId) {
        $m = $dq->get('mail', $laterId);
        echo "due in about $seconds s: ", var_export(abs($m['due_at'] - $at - $seconds) < 30, true), ', ', $m['state'], "\n";
    }
    echo 'size ', $connector->size(), ', pop: ', var_export($connector->pop(), true), "\n";
    foreach ($ids as $laterId) {
        $dq->del('mail', $laterId);
    }
    $at = microtime(true);
    $connector->later(0.3, 'SendMail', ['to' => 'gus@example.com', 'mode' => 'ok']);
    $job = pop_soon($connector);
    echo 'a job 0.3 s later: due no sooner: ', var_export($job->reserved()->dueAt() >= $at + 0.29, true), ', reserved after due: ', var_export(microtime(true) >= $job->reserved()->dueAt(), true), "\n";
    $job->delete();

    echo "-- release with a delay: back after it, attempt 2\n";
    SendMail::$log = [];
    $id = $connector->push('SendMail', ['to' => 'hal@example.com', 'mode' => 'release']);
    $job = $connector->pop();
    $releasedAt = microtime(true);
    echo process($job), ', released: ', var_export($job->isReleased(), true), "\n";
    $m = $dq->get('mail', $id);
    echo 'in dq: ', $m['state'], ', due 1 s after the release: ', var_export($m['due_at'] >= $releasedAt + 0.99, true), "\n";
    $job = pop_soon($connector);
    echo process($job), ', attempt ', $job->attempts(), ', in dq: ', show($dq->get('mail', $id)), "\n";
    echo implode('; ', SendMail::$log), "\n";

    echo "-- a job that keeps failing (--tries 3): released twice, then a dq dead letter and the failed hook\n";
    SendMail::$log = [];
    $id = $connector->push('SendMail', ['to' => 'ivy@example.com', 'mode' => 'throw']);
    for ($n = 1; $n <= 3; $n++) {
        $job = pop_soon($connector);
        echo 'attempt ', $job->attempts(), ': ', process($job, 3), '; released ', var_export($job->isReleased(), true), ', failed ', var_export($job->hasFailed(), true), ', in dq: ', show($dq->get('mail', $id)), "\n";
    }
    echo implode('; ', SendMail::$log), "\n";
    echo 'size ', $connector->size(), ', dq: ', json_encode($dq->stats('mail')), "\n";

    echo "-- the topic's max_attempts (2) runs out before --tries (0: no limit)\n";
    $id = $connector->push('SendMail', ['to' => 'jon@example.com', 'mode' => 'throw'], 'reports');
    for ($n = 1; $n <= 2; $n++) {
        $job = pop_soon($connector, 'reports');
        echo 'attempt ', $job->attempts(), ': ', process($job), '; failed ', var_export($job->hasFailed(), true), ', in dq: ', show($dq->get('reports', $id)), "\n";
    }

    echo "-- pushRaw: a payload's id is the job's id; a payload that is not JSON comes back as it was\n";
    $raw = json_encode(['job' => 'SendMail', 'maxTries' => null, 'timeout' => null, 'data' => ['to' => 'kim@example.com', 'mode' => 'ok'], 'id' => 'raw-1']);
    echo $connector->pushRaw($raw), ' ', strlen($connector->pushRaw('plain text', 'reports')), " hex chars\n";
    $job = $connector->pop();
    echo $job->getJobId(), ': ', $job->getRawBody() === $raw ? 'same raw body' : $job->getRawBody(), "\n";
    $job->delete();
    $job = $connector->pop('reports');
    echo $job->getRawBody(), "\n";
    $job->delete();
    $job->delete();
    echo 'settled once, deleted twice: ', show($dq->get('reports', $job->getJobId())), "\n";

    echo "-- config errors\n";
    foreach ([['retry_after' => 60], ['blockfor' => 1], ['block_for' => 99], ['prefix' => '']] as $config) {
        try {
            new Connector($config);
            echo 'accepted: ', json_encode($config), "\n";
        } catch (InvalidArgumentException|Dq\InvalidArgumentException $e) {
            echo get_class($e), ': ', $e->getMessage(), "\n";
        }
    }
    try {
        $connector->later('soon', 'SendMail');
    } catch (InvalidArgumentException $e) {
        echo get_class($e), ': ', $e->getMessage(), "\n";
    }
    try {
        $connector->push('SendMail', [], 'unregistered');
    } catch (Dq\UnknownTopicException $e) {
        echo get_class($e), "\n";
    }

    $dq->del('mail', $connector->push('SendMail', [])); // nothing left but the dead letters, removed with the prefix
    echo 'left: ', json_encode($dq->stats('mail')), ' ', json_encode($dq->stats('reports')), "\n";
}
?>
--EXPECTF--
Dq\Think\Connector extends think\queue\Connector
-- push, pop, fire, delete
pushed 32 hex chars, size 1, in dq: ready {"to":"ann@example.com","mode":"ok"}
Dq\Think\Job same id, SendMail on dq/mail, attempt 1, data.to ann@example.com
raw body is the pushed payload: true
processed; fire ann@example.com attempt 1; deleted: true, in dq: gone, size 0
-- pushOn another queue, bulk
sizes: mail 2, reports 1
fire bob@example.com attempt 1; fire cat@example.com attempt 1; fire cat@example.com attempt 1; sizes 0 0
-- later: seconds, DateTimeInterface, DateInterval
due in about 60 s: true, delayed
due in about 7200 s: true, delayed
due in about 1800 s: true, delayed
size 3, pop: NULL
a job 0.3 s later: due no sooner: true, reserved after due: true
-- release with a delay: back after it, attempt 2
processed, released: true
in dq: delayed, due 1 s after the release: true
processed, attempt 2, in dq: gone
fire hal@example.com attempt 1; fire hal@example.com attempt 2
-- a job that keeps failing (--tries 3): released twice, then a dq dead letter and the failed hook
attempt 1: RuntimeException: mail server refused ivy@example.com; released true, failed false, in dq: waiting
attempt 2: RuntimeException: mail server refused ivy@example.com; released true, failed false, in dq: waiting
attempt 3: RuntimeException: mail server refused ivy@example.com; released false, failed true, in dq: dead: think-queue gave up on SendMail at attempt 3
fire ivy@example.com attempt 1; fire ivy@example.com attempt 2; fire ivy@example.com attempt 3; failed hook ivy@example.com: mail server refused ivy@example.com
size 0, dq: {"delayed":0,"ready":0,"inflight":0,"dead":1}
-- the topic's max_attempts (2) runs out before --tries (0: no limit)
attempt 1: RuntimeException: mail server refused jon@example.com; failed false, in dq: waiting
attempt 2: RuntimeException: mail server refused jon@example.com; failed true, in dq: dead: retry asked by the worker after the last of 2 attempts
-- pushRaw: a payload's id is the job's id; a payload that is not JSON comes back as it was
raw-1 32 hex chars
raw-1: same raw body
plain text
settled once, deleted twice: gone
-- config errors
InvalidArgumentException: queue config "retry_after": dq leases a job for its topic's timeout_ms instead; set that on the topic (PUT /v1/topics/{queue} with {"mode": "pull", "timeout_ms": ...})
InvalidArgumentException: queue config "blockfor" is unknown to Dq\Think\Connector; it takes type, queue, redis, host, port, password, select, persistent, prefix, timeout, block_for
InvalidArgumentException: queue config "block_for" must be seconds from 0 to 60, got 99
Dq\InvalidArgumentException: %s
InvalidArgumentException: a delay is seconds, a DateTimeInterface or a DateInterval, got string
Dq\UnknownTopicException
left: {"delayed":0,"ready":0,"inflight":0,"dead":1} {"delayed":0,"ready":0,"inflight":0,"dead":1}
