--TEST--
DqFfi\Client::add fix_time: strings read in PHP's default time zone, unix seconds, past times due now
--EXTENSIONS--
ffi
--SKIPIF--
<?php require __DIR__ . '/inc.php'; dq_ffi_skipif(); ?>
--FILE--
<?php
require __DIR__ . '/inc.php';
$gw = new TestGateway(dq_test_prefix('ffi-fix-time'));
$gw->topic('orders');
$dq = new DqFfi\Client(['prefix' => $gw->prefix]);

// The same wall time in two zones: due_at differs by the zones' offset difference.
$wall = gmdate('Y-m-d 12:00:00', time() + 2 * 86400);
date_default_timezone_set('Asia/Shanghai');
var_dump($dq->add('orders', ['id' => 'sh', 'fix_time' => $wall]));
$shanghai = $dq->get('orders', 'sh');
date_default_timezone_set('America/New_York');
var_dump($dq->add('orders', ['id' => 'ny', 'fix_time' => $wall]));
$newYork = $dq->get('orders', 'ny');

$expectSh = (new DateTime($wall, new DateTimeZone('Asia/Shanghai')))->getTimestamp();
$expectNy = (new DateTime($wall, new DateTimeZone('America/New_York')))->getTimestamp();
echo "shanghai: ", $shanghai['state'], ' ', var_export($shanghai['due_at'] === (float) $expectSh, true), "\n";
echo "new york: ", $newYork['state'], ' ', var_export($newYork['due_at'] === (float) $expectNy, true), "\n";
echo "new york strtotime: ", var_export($newYork['due_at'] === (float) strtotime($wall), true), "\n";
$hours = ($newYork['due_at'] - $shanghai['due_at']) / 3600;
echo "difference is 12 or 13 hours: ", var_export(in_array($hours, [12.0, 13.0], true), true), "\n";
$offsets = (new DateTimeZone('Asia/Shanghai'))->getOffset(new DateTime("@$expectSh"))
    - (new DateTimeZone('America/New_York'))->getOffset(new DateTime("@$expectNy"));
echo "difference is the offset difference: ", var_export($newYork['due_at'] - $shanghai['due_at'] === (float) $offsets, true), "\n";

// The zone is read at each call, not cached: back to UTC (the runner's date.timezone).
date_default_timezone_set('UTC');
var_dump($dq->add('orders', ['id' => 'utc', 'fix_time' => $wall]));
echo "utc: ", var_export($dq->get('orders', 'utc')['due_at'] === (float) strtotime($wall . ' UTC'), true), "\n";

// Unix seconds, int and float (millisecond precision).
$at = time() + 120;
var_dump($dq->add('orders', ['id' => 'unix', 'fix_time' => $at]));
$got = $dq->get('orders', 'unix');
echo "unix int: ", $got['state'], ' ', var_export($got['due_at'] === (float) $at, true), "\n";
var_dump($dq->add('orders', ['id' => 'unix-float', 'fix_time' => $at + 0.25]));
$got = $dq->get('orders', 'unix-float');
echo "unix float: ", $got['state'], ' ', var_export(abs($got['due_at'] - ($at + 0.25)) < 0.0005, true), "\n";

// In the past: due now, straight to 'ready'.
foreach (['past-string' => '2001-01-01 00:00:00', 'past-int' => 1000000000, 'past-second' => date('Y-m-d H:i:s', time() - 1)] as $id => $fix) {
    $now = microtime(true);
    var_dump($dq->add('orders', ['id' => $id, 'fix_time' => $fix]));
    $got = $dq->get('orders', $id);
    echo "$id: ", $got['state'], ' due now: ', var_export(abs($got['due_at'] - $now) < 2, true), "\n";
}

// php-delayqueue's README: date('Y-m-d 23:50:50') with PRC, i.e. tonight in Shanghai.
date_default_timezone_set('PRC');
$fix = date('Y-m-d 23:50:50');
$now = microtime(true);
var_dump($dq->add('orders', ['id' => 'prc', 'fix_time' => $fix]));
$got = $dq->get('orders', 'prc');
$expected = (new DateTime($fix, new DateTimeZone('Asia/Shanghai')))->getTimestamp();
if ($expected > $now) {
    echo "prc: ", var_export($got['state'] === 'delayed' && $got['due_at'] === (float) $expected && $got['due_at'] === (float) strtotime($fix), true), "\n";
} else { // run between 23:50:50 and midnight Shanghai time: already past
    echo "prc: ", var_export($got['state'] === 'ready' && abs($got['due_at'] - $now) < 2, true), "\n";
}
$tonight = $expected > $now ? 1 : 0;
var_dump($dq->stats('orders') === ['delayed' => 5 + $tonight, 'ready' => 4 - $tonight, 'inflight' => 0, 'dead' => 0]);
?>
--EXPECT--
bool(true)
bool(true)
shanghai: delayed true
new york: delayed true
new york strtotime: true
difference is 12 or 13 hours: true
difference is the offset difference: true
bool(true)
utc: true
bool(true)
unix int: delayed true
bool(true)
unix float: delayed true
bool(true)
past-string: ready due now: true
bool(true)
past-int: ready due now: true
bool(true)
past-second: ready due now: true
bool(true)
prc: true
bool(true)
