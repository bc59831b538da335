--TEST--
Laravel queue driver (Dq\Laravel) in a Laravel application: dispatch(), onQueue(), delay() and Queue::later() onto dq pull topics, `php artisan queue:work dq --once` running them, a queue:work daemon waiting in dq's reserve() and stopped by SIGTERM, a throwing job released with its backoff and retried, its last try in failed_jobs and in dq's dead letters, queue:failed and queue:retry, dq's max_attempts below the job's tries, a missing topic, bad connection settings
--EXTENSIONS--
dq
pcntl
mbstring
intl
pdo_sqlite
--SKIPIF--
<?php require __DIR__ . '/inc/laravel.inc'; dq_laravel_skipif(); ?>
--FILE--
<?php
require __DIR__ . '/inc/laravel.inc';
require __DIR__ . '/inc/drivers.inc';

use Illuminate\Queue\Events\JobQueued;
use Illuminate\Support\Facades\Event;
use Illuminate\Support\Facades\Queue;

$gw = new TestGateway(dq_test_prefix('laravel'));
// dq's own ladder (30 s) is far from the jobs' backoff (1 or 2 s): a retry's due time tells which was used.
$gw->topic('default', ['mode' => 'pull', 'retry' => [30], 'timeout_ms' => 30000, 'max_attempts' => 10]);
$gw->topic('emails', ['mode' => 'pull']);
$gw->topic('short', ['mode' => 'pull', 'retry' => [30], 'max_attempts' => 2]);
$dq = new Dq\Client(['prefix' => $gw->prefix]);

$dqConnection = ['driver' => 'dq', 'queue' => 'default', 'redis' => 'redis://127.0.0.1:6379/0', 'prefix' => $gw->prefix, 'block_for' => 3];
$app = new TestLaravelApp([
    'dq' => $dqConnection,
    'dq-no-queue' => ['driver' => 'dq', 'prefix' => $gw->prefix],
    'dq-retry-after' => $dqConnection + ['retry_after' => 90],
    'dq-block-for' => ['block_for' => 90] + $dqConnection,
    'dq-typo' => $dqConnection + ['prefx' => 'app'],
    // As env() gives them: null when unset (dq's default then), strings.
    'dq-env' => ['redis' => null, 'block_for' => '2'] + $dqConnection,
], [
    'RecordJob' => <<<'PHP'
        class RecordJob implements ShouldQueue
        {
            use Dispatchable, InteractsWithQueue, Queueable;

            public function __construct(public string $name) {}

            public function handle(): void
            {
                record("{$this->name}: ran from queue {$this->job->getQueue()}, attempt {$this->attempts()}, job id = payload uuid: " . var_export($this->job->getJobId() === $this->job->uuid(), true));
            }
        }
        PHP,
    'ChargeCard' => <<<'PHP'
        class ChargeCard implements ShouldQueue
        {
            use Dispatchable, InteractsWithQueue, Queueable;

            public $tries = 3;
            public $backoff = [2, 1];

            public function __construct(public string $order) {}

            public function handle(): void
            {
                $fixed = is_file(storage_path('card-fixed'));
                record("{$this->order} attempt {$this->attempts()}: " . ($fixed ? 'charged' : 'declined'));
                if (!$fixed) {
                    throw new \RuntimeException("card declined for {$this->order} (attempt {$this->attempts()})");
                }
            }

            public function failed(\Throwable $e): void
            {
                record("{$this->order} failed(): " . get_class($e) . ': ' . $e->getMessage());
            }
        }
        PHP,
    'ResizeImage' => <<<'PHP'
        class ResizeImage implements ShouldQueue
        {
            use Dispatchable, InteractsWithQueue, Queueable;

            public $tries = 5;
            public $backoff = 1;

            public function __construct(public string $image) {}

            public function handle(): void
            {
                record("{$this->image} attempt {$this->attempts()}: out of memory");
                throw new \RuntimeException("out of memory resizing {$this->image}");
            }

            public function failed(\Throwable $e): void
            {
                record("{$this->image} failed(): " . get_class($e) . ': ' . $e->getMessage());
            }
        }
        PHP,
]);

/** One `php artisan queue:work dq --once` on $queue: reserves (waiting up to block_for, 3 s) and runs one job. */
function work(TestLaravelApp $app, string $queue): void
{
    $app->mustArtisan(['queue:work', 'dq', '--once', "--queue=$queue"]);
}

/** The jobs' log lines written since the last call, sorted (workers may take due jobs in any order). */
function newLines(TestLaravelApp $app): string
{
    static $seen = 0;
    $lines = $app->jobLog();
    $new = array_slice($lines, $seen);
    $seen = count($lines);
    sort($new);
    return implode('', array_map(fn ($line) => "  $line\n", $new));
}

/** Whether $due is $delay seconds after a moment between $from and $to (with 50 ms for clocks and rounding). */
function dueAfter(float $due, float $delay, float $from, float $to): bool
{
    return $due >= $from + $delay - 0.05 && $due <= $to + $delay + 0.05;
}

$app->mustArtisan(['migrate', '--force']);
$app->boot();
$queued = [];
Event::listen(JobQueued::class, function (JobQueued $event) use (&$queued) {
    $queued[] = $event->id;
});

echo "-- dispatch(): a dq message on the queue's topic, its id the payload's uuid; queue:work runs it and acks it\n";
dispatch(new App\Jobs\RecordJob('first'));
$id = end($queued);
$message = $dq->get('default', $id);
$payload = json_decode($message['body'], true);
echo $message['state'], ', body is the payload: ', $payload['displayName'], ', id = uuid: ', var_export($payload['uuid'] === $id, true), "\n";
echo 'Queue::size(): ', Queue::size(), "\n";
work($app, 'default');
echo newLines($app);
var_dump($dq->get('default', $id));

echo "-- queue:work dq --sleep=0, a worker waiting in dq's reserve(): runs a job dispatched while it waits, stops on SIGTERM\n";
$worker = $app->start(['queue:work', 'dq', '--sleep=0']);
dispatch(new App\Jobs\RecordJob('while waiting'));
echo 'ran: ', var_export(dq_eventually(fn () => count($app->jobLog()) === 2, 30.0), true), "\n";
echo newLines($app);
$worker->signal(SIGTERM);
echo 'SIGTERM: ', $worker->wait(30.0), "\n";

echo "-- onQueue('emails'): the topic emails\n";
App\Jobs\RecordJob::dispatch('welcome mail')->onQueue('emails');
echo 'emails: ', json_encode($dq->stats('emails')), ', default: ', Queue::size(), "\n";
work($app, 'emails');
echo newLines($app);
echo 'emails: ', json_encode($dq->stats('emails')), "\n";

echo "-- delay() and Queue::later(): delayed dq messages, due when asked (to the millisecond), run when due\n";
$from = microtime(true);
App\Jobs\RecordJob::dispatch('in 1.5 s')->delay(new DateTimeImmutable('+1500 milliseconds'));
$atMoment = end($queued);
Queue::later(1, new App\Jobs\RecordJob('in 1 s'));
$inSeconds = end($queued);
Queue::laterOn('emails', new DateInterval('PT2S'), new App\Jobs\RecordJob('in PT2S'));
$inInterval = end($queued);
$to = microtime(true);
foreach ([['default', $atMoment, 1.5], ['default', $inSeconds, 1.0], ['emails', $inInterval, 2.0]] as [$topic, $id, $delay]) {
    $message = $dq->get($topic, $id);
    echo "$topic: {$message['state']}, due in $delay s: ", var_export(dueAfter($message['due_at'], $delay, $from, $to), true), "\n";
}
echo 'Queue::size(): ', Queue::size(), ', delayed: ', Queue::delayedSize(), ', pending: ', Queue::pendingSize(), "\n";
work($app, 'default');
work($app, 'default');
work($app, 'emails');
echo newLines($app);
echo 'left: ', Queue::size() + Queue::size('emails'), "\n";

echo "-- a job that throws (tries 3, backoff [2, 1]): released with its backoff, not dq's ladder; after the last try in failed_jobs and dq's dead letters\n";
App\Jobs\ChargeCard::dispatch('order-7');
$id = end($queued);
foreach ([1 => 2.0, 2 => 1.0] as $try => $backoff) {
    $from = microtime(true);
    work($app, 'default');
    $to = microtime(true);
    $message = $dq->get('default', $id);
    echo "after try $try: {$message['state']}, due after the job's backoff of $backoff s: ", var_export(dueAfter($message['due_at'], $backoff, $from, $to), true), "\n";
}
work($app, 'default');
echo newLines($app);
$message = $dq->get('default', $id);
echo "dq: {$message['state']}: {$message['last_error']}\n";
foreach ($app->failedJobs() as $row) {
    echo "failed_jobs: uuid = id: ", var_export($row['uuid'] === $id, true), ", {$row['connection']}/{$row['queue']}: {$row['exception']}\n";
}
$listed = $app->mustArtisan(['queue:failed']);
echo 'queue:failed lists it: ', var_export(str_contains($listed, $id) && str_contains($listed, 'App\Jobs\ChargeCard'), true), "\n";

echo "-- the card fixed, queue:retry puts it back on dq (the dead letter replaced, attempts from 0) and it runs\n";
touch($app->path('storage/card-fixed'));
echo trim($app->mustArtisan(['queue:retry', $id])), "\n";
$message = $dq->get('default', $id);
echo "dq: {$message['state']}, attempts {$message['attempts']}; failed_jobs: ", count($app->failedJobs()), "\n";
work($app, 'default');
echo newLines($app);
var_dump($dq->get('default', $id));

echo "-- dq's max_attempts (2) below the job's tries (5): dq makes it a dead letter, and Laravel fails it too\n";
App\Jobs\ResizeImage::dispatch('cat.png')->onQueue('short');
$id = end($queued);
work($app, 'short');
work($app, 'short');
echo newLines($app);
$message = $dq->get('short', $id);
echo "dq: {$message['state']}: {$message['last_error']}\n";
foreach ($app->failedJobs() as $row) {
    echo "failed_jobs: uuid = id: ", var_export($row['uuid'] === $id, true), ", {$row['connection']}/{$row['queue']}: {$row['exception']}\n";
}

echo "-- a queue without a topic: the error names it and says how to create it\n";
try {
    Queue::push(new App\Jobs\RecordJob('lost'), '', 'reports');
} catch (Dq\UnknownTopicException $e) {
    dq_show($e);
}
[$status, $output] = $app->artisan(['queue:work', 'dq', '--once', '--queue=reports']);
echo "queue:work --queue=reports: exit $status, in laravel.log: ", var_export(str_contains($app->laravelLog(), 'Laravel queue "reports" (connection "dq") has no dq pull topic: create it'), true), "\n";

echo "-- bad connection settings\n";
foreach (['dq-no-queue', 'dq-retry-after', 'dq-block-for', 'dq-typo', 'dq-env'] as $connection) {
    try {
        Queue::connection($connection)->size();
        echo "$connection: accepted\n";
    } catch (Dq\InvalidArgumentException $e) {
        echo "$connection: ", dq_show($e);
    }
}
echo 'left on the topics: ', json_encode([$dq->stats('default'), $dq->stats('emails'), $dq->stats('short')]), "\n";
?>
--EXPECTF--
-- dispatch(): a dq message on the queue's topic, its id the payload's uuid; queue:work runs it and acks it
ready, body is the payload: App\Jobs\RecordJob, id = uuid: true
Queue::size(): 1
  first: ran from queue default, attempt 1, job id = payload uuid: true
NULL
-- queue:work dq --sleep=0, a worker waiting in dq's reserve(): runs a job dispatched while it waits, stops on SIGTERM
ran: true
  while waiting: ran from queue default, attempt 1, job id = payload uuid: true
SIGTERM: exit 0
-- onQueue('emails'): the topic emails
emails: {"delayed":0,"ready":1,"inflight":0,"dead":0}, default: 0
  welcome mail: ran from queue emails, attempt 1, job id = payload uuid: true
emails: {"delayed":0,"ready":0,"inflight":0,"dead":0}
-- delay() and Queue::later(): delayed dq messages, due when asked (to the millisecond), run when due
default: delayed, due in 1.5 s: true
default: delayed, due in 1 s: true
emails: delayed, due in 2 s: true
Queue::size(): 2, delayed: 2, pending: 0
  in 1 s: ran from queue default, attempt 1, job id = payload uuid: true
  in 1.5 s: ran from queue default, attempt 1, job id = payload uuid: true
  in PT2S: ran from queue emails, attempt 1, job id = payload uuid: true
left: 0
-- a job that throws (tries 3, backoff [2, 1]): released with its backoff, not dq's ladder; after the last try in failed_jobs and dq's dead letters
after try 1: delayed, due after the job's backoff of 2 s: true
after try 2: delayed, due after the job's backoff of 1 s: true
  order-7 attempt 1: declined
  order-7 attempt 2: declined
  order-7 attempt 3: declined
  order-7 failed(): RuntimeException: card declined for order-7 (attempt 3)
dq: dead: RuntimeException: card declined for order-7 (attempt 3)
failed_jobs: uuid = id: true, dq/default: RuntimeException: card declined for order-7 (attempt 3) in %s/app/Jobs/ChargeCard.php:%d
queue:failed lists it: true
-- the card fixed, queue:retry puts it back on dq (the dead letter replaced, attempts from 0) and it runs
The failed job [%s] has been pushed back onto the queue!
dq: ready, attempts 0; failed_jobs: 0
  order-7 attempt 1: charged
NULL
-- dq's max_attempts (2) below the job's tries (5): dq makes it a dead letter, and Laravel fails it too
  cat.png attempt 1: out of memory
  cat.png attempt 2: out of memory
  cat.png failed(): Illuminate\Queue\MaxAttemptsExceededException: App\Jobs\ResizeImage was released after attempt 2 of the 2 that dq topic "short" allows (its max_attempts, lower than the job's tries): dq made it a dead letter
dq: dead: retry asked by the worker after the last of 2 attempts
failed_jobs: uuid = id: true, dq/short: Illuminate\Queue\MaxAttemptsExceededException: App\Jobs\ResizeImage was released after attempt 2 of the 2 that dq topic "short" allows (its max_attempts, lower than the job's tries): dq made it a dead letter in %s
-- a queue without a topic: the error names it and says how to create it
Dq\Laravel\UnknownQueueException(3): Laravel queue "reports" (connection "dq") has no dq pull topic: create it in dq-gateway's config ([[topic]] name = "reports" mode = "pull") or over HTTP (PUT /v1/topics/reports {"mode": "pull"}). dq said: topic "reports" is not registered under prefix "%s" on redis://127.0.0.1:6379/0: %s
queue:work --queue=reports: exit 0, in laravel.log: true
-- bad connection settings
dq-no-queue: Dq\InvalidArgumentException(2): the dq queue connection needs "queue", the dq pull topic of jobs dispatched without a queue (e.g. 'queue' => 'default' in config/queue.php): it is missing
dq-retry-after: Dq\InvalidArgumentException(2): "retry_after" is not a dq setting: a reserved job is leased for its topic's timeout_ms (set it on the topic, above the longest run of a job); remove "retry_after" from the dq connection
dq-block-for: Dq\InvalidArgumentException(2): "block_for" of the dq queue connection is 90: expected seconds from 0 to 60 (how long a worker waits for a job)
dq-typo: Dq\InvalidArgumentException(2): unknown option "prefx" %s
dq-env: accepted
left on the topics: [{"delayed":0,"ready":0,"inflight":0,"dead":0},{"delayed":0,"ready":0,"inflight":0,"dead":0},{"delayed":0,"ready":0,"inflight":0,"dead":1}]
