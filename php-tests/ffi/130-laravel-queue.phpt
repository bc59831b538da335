--TEST--
Laravel queue driver (Dq\Laravel) over the FFI client, dq.so not loaded: dispatch, queue:work --once, a throwing job released with its backoff then failed into failed_jobs and dq's dead letters, a missing topic
--EXTENSIONS--
ffi
mbstring
intl
pdo_sqlite
--SKIPIF--
<?php require __DIR__ . '/inc.php'; dq_ffi_skipif(); require dq_root() . '/php-tests/inc/laravel.inc'; dq_laravel_skipif(); ?>
--FILE--
<?php
require __DIR__ . '/inc.php';
require dq_root() . '/php-tests/inc/laravel.inc';
require dq_root() . '/php-tests/inc/drivers.inc';

use Illuminate\Queue\Events\JobQueued;
use Illuminate\Support\Facades\Event;
use Illuminate\Support\Facades\Queue;

$gw = new TestGateway(dq_test_prefix('ffi-laravel'));
$gw->topic('default', ['mode' => 'pull', 'retry' => [30], 'timeout_ms' => 30000]);
$dq = new DqFfi\Client(['prefix' => $gw->prefix]);
$app = new TestLaravelApp(['dq' => ['driver' => 'dq', 'queue' => 'default', 'prefix' => $gw->prefix, 'block_for' => 3]], [
    'SendInvoice' => <<<'PHP'
        class SendInvoice implements ShouldQueue
        {
            use Dispatchable, InteractsWithQueue, Queueable;

            public $tries = 2;
            public $backoff = 1;

            public function __construct(public string $invoice) {}

            public function handle(): void
            {
                record("{$this->invoice} attempt {$this->attempts()} through " . get_class($this->job->getDqQueue()->getDqClient()));
                if ($this->invoice === 'bad') {
                    throw new \DomainException("no customer for invoice {$this->invoice}");
                }
            }
        }
        PHP,
], ['ffi' => true]);
$app->mustArtisan(['migrate', '--force']);
$app->boot();
$queued = [];
Event::listen(JobQueued::class, function (JobQueued $event) use (&$queued) {
    $queued[] = $event->id;
});
echo 'client: ', get_class(Queue::connection()->getDqClient()), "\n";

echo "-- dispatch and queue:work --once\n";
App\Jobs\SendInvoice::dispatch('good');
$good = end($queued);
echo 'dq: ', $dq->get('default', $good)['state'], "\n";
$app->mustArtisan(['queue:work', 'dq', '--once']);
var_dump($dq->get('default', $good));

echo "-- a throwing job: released with its backoff, then failed into failed_jobs and dq's dead letters\n";
App\Jobs\SendInvoice::dispatch('bad');
$bad = end($queued);
$from = microtime(true);
$app->mustArtisan(['queue:work', 'dq', '--once']);
$to = microtime(true);
$message = $dq->get('default', $bad);
echo "after try 1: {$message['state']}, due after the backoff of 1 s: ", var_export($message['due_at'] >= $from + 0.95 && $message['due_at'] <= $to + 1.05, true), "\n";
$app->mustArtisan(['queue:work', 'dq', '--once']);
$message = $dq->get('default', $bad);
echo "dq: {$message['state']}: {$message['last_error']}\n";
foreach ($app->failedJobs() as $row) {
    echo 'failed_jobs: uuid = id: ', var_export($row['uuid'] === $bad, true), ", {$row['connection']}/{$row['queue']}: {$row['exception']}\n";
}
echo implode("\n", $app->jobLog()), "\n";

echo "-- a missing topic\n";
try {
    Queue::push(new App\Jobs\SendInvoice('lost'), '', 'reports');
} catch (Dq\UnknownTopicException $e) {
    echo get_class($e), '(', $e->getCode(), '): ', strstr($e->getMessage(), '. dq said:', true), "\n";
}
?>
--EXPECTF--
client: DqFfi\Client
-- dispatch and queue:work --once
dq: ready
NULL
-- a throwing job: released with its backoff, then failed into failed_jobs and dq's dead letters
after try 1: delayed, due after the backoff of 1 s: true
dq: dead: DomainException: no customer for invoice bad
failed_jobs: uuid = id: true, dq/default: DomainException: no customer for invoice bad in %s/app/Jobs/SendInvoice.php:%d
good attempt 1 through DqFfi\Client
bad attempt 1 through DqFfi\Client
bad attempt 2 through DqFfi\Client
-- a missing topic
Dq\Laravel\UnknownQueueException(3): Laravel queue "reports" (connection "dq") has no dq pull topic: create it in dq-gateway's config ([[topic]] name = "reports" mode = "pull") or over HTTP (PUT /v1/topics/reports {"mode": "pull"})
