--TEST--
examples/ladder: a notification failed three times is retried after 1, 3 and 5 s, delivered on the 4th attempt, and the run leaves nothing behind
--EXTENSIONS--
dq
redis
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$root = dq_root();
$port = dq_closed_port();

// From another directory, on a port of our choosing; takes about 10 s.
$out = (string) shell_exec('cd ' . escapeshellarg(sys_get_temp_dir()) . ' && bash '
    . escapeshellarg("$root/examples/ladder/run.sh") . " $port 2>&1; echo \"exit \$?\"");

preg_match_all('~^  attempt (\d+) +\+([\d.]+) s +(?:waited ([\d.]+) s)? +answered (\d+) \(signature=(\w+)\)$~m', $out, $rows, PREG_SET_ORDER);
echo 'attempts: ', count($rows), "\n";
foreach ($rows as [, $n, $offset, $gap, $status, $signature]) {
    echo "attempt $n: $status", $gap === '' ? '' : ' after ' . round((float) $gap) . ' s', ", signature $signature\n";
}
preg_match('~^final state: (\w+( \w+)?)~m', $out, $final);
echo 'final state: ', $final[1] ?? '?', "\n";
echo str_contains($out, "gateway http://127.0.0.1:$port ") ? "gateway on the given port\n" : "gateway elsewhere\n";

// Everything it started is stopped and its keys are gone.
preg_match('~prefix (dq-ladder-\d+)~', $out, $prefix);
echo 'keys left: ', isset($prefix[1]) ? count(dq_phpredis()->keys($prefix[1] . ':*')) : '?', "\n";
echo @fsockopen('127.0.0.1', $port, $errno, $errstr, 0.5) ? "gateway still listening\n" : "gateway stopped\n";
echo trim(substr($out, (int) strrpos($out, 'exit '))), "\n";
if (count($rows) !== 4 || ($final[1] ?? '') !== 'delivered') {
    echo $out;
}
?>
--EXPECTF--
attempts: 4
attempt 1: 503, signature ok
attempt 2: 503 after 1 s, signature ok
attempt 3: 503 after 3 s, signature ok
attempt 4: 200 after 5 s, signature ok
final state: delivered
gateway on the given port
keys left: 0
gateway stopped
exit 0
