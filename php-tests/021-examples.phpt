--TEST--
examples: the curl walkthrough and the FPM page run against a gateway and do what they say
--EXTENSIONS--
dq
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$gw = new TestGateway(dq_test_prefix('examples'));
$root = dq_root();

// examples/curl/delay-queue.sh against this gateway.
$out = shell_exec('DQ_URL=' . escapeshellarg($gw->url) . ' bash ' . escapeshellarg("$root/examples/curl/delay-queue.sh") . ' 2>&1');
var_dump(str_contains($out, '"state":"delayed"'), str_contains($out, '"delayed":1'), str_ends_with(trim($out), '404'));

// examples/fpm/order-timeout.php: lint, then run it as FPM would (CLI here) with this prefix.
echo shell_exec(PHP_BINARY . ' -n -l ' . escapeshellarg("$root/examples/fpm/order-timeout.php"));
$gw->topic('order.timeout', ['status' => 'paused']);
$php = PHP_BINARY . ' -n -d extension=' . escapeshellarg("$root/build/dq.so") . ' -d dq.prefix=' . $gw->prefix . ' -d date.timezone=UTC ';
echo shell_exec($php . escapeshellarg("$root/examples/fpm/order-timeout.php") . ' 7 create');
echo shell_exec($php . escapeshellarg("$root/examples/fpm/order-timeout.php") . ' 7 paid');
echo shell_exec($php . escapeshellarg("$root/examples/fpm/order-timeout.php") . ' 7 paid');
?>
--EXPECTF--
bool(true)
bool(true)
bool(true)
No syntax errors detected in %sorder-timeout.php
order 7: timeout check due at %d-%d-%d %d:%d:%d
order 7 paid: check cancelled
order 7 paid: check was not pending
