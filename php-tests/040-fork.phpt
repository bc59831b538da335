--TEST--
Dq\Producer and Dq\Consumer across pcntl_fork: parent and child each get their own connection and work; a delivery from before the fork is the parent's to settle
--EXTENSIONS--
dq
--SKIPIF--
<?php if (!function_exists('pcntl_fork')) die('skip pcntl not available'); ?>
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$vhost = new TestVhost('fork');
$url = $vhost->url();
$producer = new Dq\Producer(['amqp' => $url]);
foreach (['before', 'from.parent', 'from.child', 'child.only'] as $queue) {
    $producer->declareQueue($queue);
}
$producer->publish('', 'before', 'received before the fork');
$consumer = new Dq\Consumer('before', ['amqp' => $url]);
$early = $consumer->next(1.0);
echo 'before the fork: ', $early->body(), "\n";

echo "-- the child\n";
echo dq_in_child(function () use ($producer, $consumer, $early, $url, $vhost) {
    $me = getmypid();
    foreach (['ack', 'nack'] as $settle) {
        try {
            $early->$settle();
            yield "$settle of the parent's delivery refused" => false;
        } catch (Dq\InvalidArgumentException $e) {
            yield "$settle of the parent's delivery refused" => str_contains($e->getMessage(), 'before fork()');
        }
    }
    $producer->publish('', 'from.child', "child $me");
    $producer->publish('', 'child.only', "for the child $me");
    yield 'publish' => true;
    yield 'publishBatch' => $producer->publishBatch('', [['routing_key' => 'from.child', 'body' => 'batch']]) === 1;
    yield 'declareQueue' => $producer->declareQueue('declared.by.child') === 'declared.by.child';
    yield "the inherited consumer takes nothing the parent holds" => $consumer->next(0.2) === null;
    $new = new Dq\Consumer('child.only', ['amqp' => $url]);
    $own = $new->next(1.0);
    yield 'a new consumer gets its message' => $own?->body() === "for the child $me";
    $own->ack();
    yield 'and acks it' => true;
    yield 'one connection of its own' => dq_amqp_connections($vhost, "dq:$me") === 1;
});

echo "-- the parent afterwards\n";
$early->ack();
echo "acked the early delivery\n";
$producer->publish('', 'from.parent', 'parent after');
$fromChild = new Dq\Consumer('from.child', ['amqp' => $url]);
$bodies = [];
for ($i = 0; $i < 2; $i++) {
    $delivery = $fromChild->next(1.0);
    $bodies[] = preg_replace('/\d+/', '<pid>', $delivery->body());
    $delivery->ack();
}
echo 'from the child: ', implode(', ', $bodies), "\n";
$fromParent = new Dq\Consumer('from.parent', ['amqp' => $url]);
$delivery = $fromParent->next(1.0);
echo 'from the parent: ', $delivery->body(), "\n";
$delivery->ack();
var_dump($consumer->next(0.1));
echo 'connections named dq:<parent pid>: ', dq_amqp_connections($vhost, 'dq:' . getmypid()), "\n";

echo "-- parent and child publishing at the same time\n";
$pid = pcntl_fork();
$who = $pid === 0 ? 'child' : 'parent';
$failed = 0;
for ($i = 0; $i < 300; $i++) {
    try {
        $producer->publish('', "from.$who", "$who $i");
    } catch (Throwable $e) {
        $failed++;
    }
}
if ($pid === 0) {
    exit($failed === 0 ? 0 : 1);
}
pcntl_waitpid($pid, $status);
echo 'child: ', pcntl_wifexited($status) ? 'exit ' . pcntl_wexitstatus($status) : 'signal ' . pcntl_wtermsig($status), ", parent failures: $failed\n";
foreach (dq_list_queues($vhost) as $name => $queue) {
    echo "$name: {$queue['messages']}\n";
}
?>
--EXPECT--
before the fork: received before the fork
-- the child
  child ack of the parent's delivery refused: true
  child nack of the parent's delivery refused: true
  child publish: true
  child publishBatch: true
  child declareQueue: true
  child the inherited consumer takes nothing the parent holds: true
  child a new consumer gets its message: true
  child and acks it: true
  child one connection of its own: true
  child exit 0
-- the parent afterwards
acked the early delivery
from the child: child <pid>, batch
from the parent: parent after
NULL
connections named dq:<parent pid>: 1
-- parent and child publishing at the same time
child: exit 0, parent failures: 0
before: 0
child.only: 0
declared.by.child: 0
from.child: 300
from.parent: 300
