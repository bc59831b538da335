--TEST--
Dq\Client::work(): the pull worker loop acks what the handler finished, retries a throwing handler's job on the ladder then buries it (or at once without requeue_on_error), stops on SIGTERM/SIGINT/SIGQUIT while waiting and while a handler runs, keeps to max_messages; reserve() returns null on a signal; Dq\JobInterface and ClientInterface::reserve/work mocked
--EXTENSIONS--
dq
pcntl
posix
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$gw = new TestGateway(dq_test_prefix('pull-work'));
$gw->topic('jobs', ['mode' => 'pull', 'retry' => [0.1], 'max_attempts' => 2]);
$dq = new Dq\Client(['prefix' => $gw->prefix]);

echo "-- handled, acked; a throwing handler: retried, then a dead letter; max_messages\n";
$dq->addMany('jobs', [['id' => 'ok', 'body' => 1], ['id' => 'self', 'body' => 2], ['id' => 'boom', 'body' => 3]]);
$errors = [];
$n = $dq->work('jobs', function (Dq\JobInterface $job) {
    echo 'handling ', $job->id(), ' attempt ', $job->attempt(), "\n";
    if ($job->id() === 'boom') {
        throw new RuntimeException('payment service down');
    }
    if ($job->id() === 'self') {
        $job->retry(60);
    }
}, ['max_messages' => 4, 'timeout' => 0.5, 'on_error' => function (Throwable $e, Dq\Job $job) use (&$errors) {
    $errors[] = $job->id() . ': ' . $e->getMessage();
}]);
echo "work returned $n\n";
echo implode("\n", $errors), "\n";
foreach (['ok', 'self', 'boom'] as $id) {
    $m = $dq->get('jobs', $id);
    echo $id, ': ', $m === null ? 'gone' : $m['state'] . ($m['state'] === 'dead' ? ' (' . $m['last_error'] . ')' : ''), "\n";
}

echo "-- requeue_on_error false: a dead letter at once\n";
$dq->add('jobs', ['id' => 'once']);
$n = $dq->work('jobs', function (Dq\Job $job) {
    throw new LogicException('bad data');
}, ['max_messages' => 1, 'requeue_on_error' => false, 'on_error' => fn () => null]);
echo "work returned $n; ", $dq->get('jobs', 'once')['state'], ': ', $dq->get('jobs', 'once')['last_error'], "\n";

echo "-- bad options\n";
try {
    $dq->work('jobs', fn () => null, ['max_message' => 1]);
} catch (Dq\InvalidArgumentException $e) {
    echo get_class($e), ': ', $e->getMessage(), "\n";
}

echo "-- stop signals\n";
$script = fn (string $body) => '<?php
$dq = new Dq\Client(["prefix" => getenv("PREFIX")]);
' . $body;
$signals = [SIGTERM => 'SIGTERM', SIGINT => 'SIGINT', SIGQUIT => 'SIGQUIT'];
foreach ($signals as $signal => $name) {
    $worker = new TestWorker($script('$n = $dq->work("jobs", function ($job) { echo "got ", $job->id(), "\n"; });
echo "work returned $n\n";'), ['PREFIX' => $gw->prefix]);
    usleep(500000);
    $worker->signal($signal);
    echo "$name while waiting: ", $worker->wait(10), ', within 1 s: ', var_export($worker->stoppedWithin(1.0), true), ' ', trim($worker->output()), "\n";
}
$dq->add('jobs', ['id' => 'long']);
$worker = new TestWorker($script('$n = $dq->work("jobs", function ($job) { echo "handling ", $job->id(), "\n"; posix_kill(getmypid(), SIGTERM); usleep(200000); echo "finished\n"; });
echo "work returned $n\n";'), ['PREFIX' => $gw->prefix]);
echo 'SIGTERM in the handler: ', $worker->wait(10), "\n", $worker->output();
echo 'long: ', var_export($dq->get('jobs', 'long'), true), "\n";
$worker = new TestWorker($script('$job = $dq->reserve("jobs", 30); echo "reserve returned ", var_export($job, true), "\n";'), ['PREFIX' => $gw->prefix]);
usleep(500000);
$worker->signal(SIGTERM);
echo 'SIGTERM in reserve(), no handler: ', $worker->wait(10), ', within 1 s: ', var_export($worker->stoppedWithin(1.0), true), "\n";

echo "-- mocks through the interfaces\n";
final class FakeJob implements Dq\JobInterface
{
    public array $calls = [];
    public function __construct(private string $id, private mixed $body) {}
    public function id(): string { return $this->id; }
    public function topic(): string { return 'jobs'; }
    public function body(): mixed { return $this->body; }
    public function attempt(): int { return 1; }
    public function maxAttempts(): int { return 3; }
    public function dueAt(): float { return 0.0; }
    public function lease(): string { return 'fake'; }
    public function leaseExpiresAt(): float { return 0.0; }
    public function settled(): bool { return $this->calls !== []; }
    public function ack(): void { $this->calls[] = 'ack'; }
    public function retry(?float $delay = null): bool { $this->calls[] = "retry($delay)"; return true; }
    public function fail(string $reason): void { $this->calls[] = "fail($reason)"; }
}
/** Application code under test: charges an order, retries in 30 s when the gateway is busy. */
function charge(Dq\JobInterface $job): void
{
    if ($job->body()['amount'] > 100) {
        $job->retry(30);
        return;
    }
    $job->ack();
}
$small = new FakeJob('o1', ['amount' => 5]);
$large = new FakeJob('o2', ['amount' => 500]);
charge($small);
charge($large);
echo json_encode([$small->calls, $large->calls]), "\n";
$client = new class implements Dq\ClientInterface {
    public function add(string $topic, array $data): bool { return true; }
    public function get(string $topic, mixed $id): ?array { return null; }
    public function del(string $topic, mixed $id): bool { return false; }
    public function addMany(string $topic, array $items): int { return count($items); }
    public function stats(string $topic): array { return []; }
    public function reserve(string $topic, float $timeout = 1.0): ?Dq\JobInterface { return new FakeJob('r1', ['amount' => 1]); }
    public function work(string $topic, callable $handler, array $options = []): int { $handler($this->reserve($topic)); return 1; }
};
$seen = [];
$client->work('jobs', function (Dq\JobInterface $job) use (&$seen) { charge($job); $seen = $job->calls; });
echo json_encode($seen), ' ', var_export($dq instanceof Dq\ClientInterface, true), "\n";
?>
--EXPECTF--
-- handled, acked; a throwing handler: retried, then a dead letter; max_messages
handling boom attempt 1
handling ok attempt 1
handling self attempt 1
handling boom attempt 2
work returned 4
boom: payment service down
boom: payment service down
ok: gone
self: delayed
boom: dead (RuntimeException: payment service down after the last of 2 attempts)
-- requeue_on_error false: a dead letter at once
work returned 1; dead: LogicException: bad data
-- bad options
Dq\InvalidArgumentException: %sunknown option%smax_message%s
-- stop signals
SIGTERM while waiting: exit 0, within 1 s: true work returned 0
SIGINT while waiting: exit 0, within 1 s: true work returned 0
SIGQUIT while waiting: exit 0, within 1 s: true work returned 0
SIGTERM in the handler: exit 0
handling long
finished
work returned 1
long: NULL
SIGTERM in reserve(), no handler: signal 15, within 1 s: true
-- mocks through the interfaces
[["ack"],["retry(30)"]]
["ack"] true
