--TEST--
Dq\Client across pcntl_fork: the child gets its own connection, the parent's keeps working
--EXTENSIONS--
dq
redis
--SKIPIF--
<?php if (!function_exists('pcntl_fork')) die('skip pcntl not available'); ?>
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$gw = new TestGateway(dq_test_prefix('fork'));
$gw->topic('orders');

/**
 * Runs $work in a child, which reports each check as a line (through a temp file) and exits 0
 * only if every check passed. Returns the child's lines and how it ended.
 */
function in_child(callable $work): string
{
    $report = tempnam(sys_get_temp_dir(), 'dq-fork-');
    $pid = pcntl_fork();
    if ($pid === 0) {
        $ok = true;
        try {
            foreach ($work() as $check => $passed) {
                file_put_contents($report, "  child $check: " . var_export($passed, true) . "\n", FILE_APPEND);
                $ok = $ok && $passed === true;
            }
        } catch (Throwable $e) {
            file_put_contents($report, '  child threw ' . get_class($e) . ': ' . $e->getMessage() . "\n", FILE_APPEND);
            $ok = false;
        }
        exit($ok ? 0 : 1); // a normal shutdown: the extension must not crash on the way out
    }
    pcntl_waitpid($pid, $status);
    $lines = file_get_contents($report);
    unlink($report);
    return $lines . '  child ' . (pcntl_wifexited($status) ? 'exit ' . pcntl_wexitstatus($status) : 'signal ' . pcntl_wtermsig($status)) . "\n";
}

/** The Redis connections named dq:<pid>. */
function dq_connections(int $pid): int
{
    $count = 0;
    foreach (dq_phpredis()->client('list') as $client) {
        $count += ($client['name'] ?? '') === "dq:$pid" ? 1 : 0;
    }
    return $count;
}

echo "-- used before the fork\n";
$dq = new Dq\Client(['prefix' => $gw->prefix]);
var_dump($dq->add('orders', ['id' => 'parent-1', 'body' => 'p1', 'delay' => 60]));
echo "parent has a connection: ", dq_connections(getmypid()), "\n";
echo in_child(function () use ($dq) {
    $me = getmypid();
    yield 'add' => $dq->add('orders', ['id' => 'child-1', 'body' => $me, 'delay' => 60]);
    yield 'get own' => $dq->get('orders', 'child-1')['body'] === $me;
    yield "get parent's" => $dq->get('orders', 'parent-1')['body'] === 'p1';
    yield 'stats' => $dq->stats('orders')['delayed'] === 2;
    yield 'has its own connection' => dq_connections($me) === 1;
});
var_dump($dq->add('orders', ['id' => 'parent-2', 'body' => 'p2', 'delay' => 60]));
echo "parent sees the child's message: ", var_export(is_int($dq->get('orders', 'child-1')['body']), true), "\n";
echo json_encode($dq->get('orders', 'parent-2')['body']), ' ', json_encode($dq->stats('orders')), "\n";

echo "-- forked before any use\n";
$fresh = new Dq\Client(['prefix' => $gw->prefix, 'timeout' => 2.5]);
echo in_child(function () use ($fresh) {
    yield 'add' => $fresh->add('orders', ['id' => 'child-2', 'delay' => 60]);
    yield 'get' => $fresh->get('orders', 'child-2')['id'] === 'child-2';
});
var_dump($fresh->get('orders', 'child-2')['id'], $fresh->del('orders', 'child-2'));

echo "-- parent and child at the same time\n";
$pid = pcntl_fork();
$who = $pid === 0 ? 'child' : 'parent';
$wrong = 0;
for ($i = 0; $i < 200; $i++) {
    $dq->add('orders', ['id' => "$who-x-$i", 'body' => "$who $i", 'delay' => 60]);
    $wrong += $dq->get('orders', "$who-x-$i")['body'] === "$who $i" ? 0 : 1;
}
if ($pid === 0) {
    exit($wrong === 0 ? 0 : 1);
}
pcntl_waitpid($pid, $status);
echo "child: ", pcntl_wifexited($status) ? 'exit ' . pcntl_wexitstatus($status) : 'signal ' . pcntl_wtermsig($status), ", parent wrong replies: $wrong\n";
echo json_encode($dq->stats('orders')), "\n";
?>
--EXPECT--
-- used before the fork
bool(true)
parent has a connection: 1
  child add: true
  child get own: true
  child get parent's: true
  child stats: true
  child has its own connection: true
  child exit 0
bool(true)
parent sees the child's message: true
"p2" {"delayed":3,"ready":0,"inflight":0,"dead":0}
-- forked before any use
  child add: true
  child get: true
  child exit 0
string(7) "child-2"
bool(true)
-- parent and child at the same time
child: exit 0, parent wrong replies: 0
{"delayed":403,"ready":0,"inflight":0,"dead":0}
