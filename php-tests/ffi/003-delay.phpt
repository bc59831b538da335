--TEST--
DqFfi\Client::add delay: int and float seconds, 0 is due now, neither delay nor fix_time takes the topic's default delay
--EXTENSIONS--
ffi
--SKIPIF--
<?php require __DIR__ . '/inc.php'; dq_ffi_skipif(); ?>
--FILE--
<?php
require __DIR__ . '/inc.php';
$gw = new TestGateway(dq_test_prefix('ffi-delay'));
$gw->topic('orders', ['delay' => 90]);
$gw->topic('nodelay');
$dq = new DqFfi\Client(['prefix' => $gw->prefix]);

/** Adds, then shows the state and whether due_at lies $expect seconds after the call (to the ms). */
function show_due(DqFfi\Client $dq, string $topic, array $data, float $expect): void
{
    $before = microtime(true);
    $ok = $dq->add($topic, $data);
    $after = microtime(true);
    $got = $dq->get($topic, $data['id']);
    $ahead = $got['due_at'] - $before;
    $right = $ahead >= $expect - 0.002 && $ahead <= $expect + ($after - $before) + 0.002;
    printf("%-8s %s %-7s %s\n", $data['id'], var_export($ok, true), $got['state'], $right ? "due in $expect s" : "due in $ahead s, not $expect");
}

show_due($dq, 'orders', ['id' => 'int', 'delay' => 60], 60);
show_due($dq, 'orders', ['id' => 'float', 'delay' => 1.5], 1.5);
show_due($dq, 'orders', ['id' => 'half', 'delay' => 0.5], 0.5);
show_due($dq, 'orders', ['id' => 'max', 'delay' => 31622400], 31622400);
show_due($dq, 'orders', ['id' => 'zero', 'delay' => 0], 0);
show_due($dq, 'orders', ['id' => 'zero-f', 'delay' => 0.0], 0);
// Neither delay nor fix_time: the topic's "delay" (90 s); a topic without one: due now.
show_due($dq, 'orders', ['id' => 'default'], 90);
show_due($dq, 'orders', ['id' => 'null', 'delay' => null, 'fix_time' => null], 90);
show_due($dq, 'nodelay', ['id' => 'default'], 0);
var_dump($dq->stats('orders'), $dq->stats('nodelay'));
?>
--EXPECT--
int      true delayed due in 60 s
float    true delayed due in 1.5 s
half     true delayed due in 0.5 s
max      true delayed due in 31622400 s
zero     true ready   due in 0 s
zero-f   true ready   due in 0 s
default  true delayed due in 90 s
null     true delayed due in 90 s
default  true ready   due in 0 s
array(4) {
  ["delayed"]=>
  int(6)
  ["ready"]=>
  int(2)
  ["inflight"]=>
  int(0)
  ["dead"]=>
  int(0)
}
array(4) {
  ["delayed"]=>
  int(0)
  ["ready"]=>
  int(1)
  ["inflight"]=>
  int(0)
  ["dead"]=>
  int(0)
}
