--TEST--
dq-gateway reads fix_time strings in its time zone: the config file's `timezone`, else the system's (TZ)
--EXTENSIONS--
dq
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$wall = gmdate('Y-m-d 12:00:00', time() + 2 * 86400);
$at = fn (string $zone) => (float) (new DateTime($wall, new DateTimeZone($zone)))->getTimestamp();

/** Adds a message with fix_time $wall over HTTP; returns the zone its due_at corresponds to. */
function zone_of(TestGateway $gw, string $wall, array $zones, Closure $at): string
{
    $gw->topic('orders');
    [$status, $added] = $gw->request('POST', '/v1/topics/orders/messages', ['id' => 'wall', 'fix_time' => $wall]);
    if ($status !== 201) {
        return "HTTP $status " . json_encode($added);
    }
    $dq = new Dq\Client(['prefix' => $gw->prefix]);
    if ($dq->get('orders', 'wall')['due_at'] !== $added['due_at']) {
        return 'get and POST disagree';
    }
    foreach ($zones as $zone) {
        if ($added['due_at'] === $at($zone)) {
            return $zone;
        }
    }
    return 'UTC' . sprintf('%+.1f', ($at('UTC') - $added['due_at']) / 3600) . ' h';
}
$zones = ['UTC', 'Asia/Shanghai', 'America/New_York', 'Asia/Kolkata'];

// `timezone` in the config file.
$config = tempnam(sys_get_temp_dir(), 'dq-gw-conf-');
file_put_contents($config, "timezone = \"America/New_York\"\n");
$gw = new TestGateway(dq_test_prefix('http-tz-file'), [], ['--config', $config]);
echo "config file America/New_York: ", zone_of($gw, $wall, $zones, $at), "\n";
unset($gw);

// No `timezone`: the system's, which TZ sets for the process (as for every other program).
$gw = new TestGateway(dq_test_prefix('http-tz-env'), ['TZ' => 'Asia/Shanghai']);
echo "TZ=Asia/Shanghai: ", zone_of($gw, $wall, $zones, $at), "\n";
unset($gw);
$gw = new TestGateway(dq_test_prefix('http-tz-env'), ['TZ' => 'Asia/Kolkata']);
echo "TZ=Asia/Kolkata: ", zone_of($gw, $wall, $zones, $at), "\n";
unset($gw);

// The config file wins over TZ.
$gw = new TestGateway(dq_test_prefix('http-tz-both'), ['TZ' => 'Asia/Shanghai'], ['--config', $config]);
echo "both: ", zone_of($gw, $wall, $zones, $at), "\n";
unset($gw);
unlink($config);
?>
--EXPECT--
config file America/New_York: America/New_York
TZ=Asia/Shanghai: Asia/Shanghai
TZ=Asia/Kolkata: Asia/Kolkata
both: America/New_York
