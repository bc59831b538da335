--TEST--
examples/worker: worker.php under a private supervisord with the program of dq-worker.conf (restarted after a limit, stopped by `supervisorctl stop` at once (seen by supervisord within its 1 s tick), exit status 0, everything it handled acked), and as dq-worker@.service runs it (its ExecStart, KillSignal, TimeoutStopSec)
--EXTENSIONS--
dq
pcntl
posix
--SKIPIF--
<?php
if (!is_executable('/usr/bin/supervisord') || !is_executable('/usr/bin/supervisorctl')) {
    die('skip supervisor is not installed (scripts/setup.sh installs it)');
}
?>
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$root = dq_root();
$example = "$root/examples/worker";
$vhost = new TestVhost('worker');
$producer = new Dq\Producer(['amqp' => $vhost->url()]);
$producer->declareQueue('order.events');
$dir = sys_get_temp_dir() . '/' . dq_test_prefix('supervisor');
mkdir($dir);
$supervisord = null;
register_shutdown_function(function () use (&$supervisord, $dir): void {
    if (is_resource($supervisord)) {
        proc_terminate($supervisord, 15);
        proc_close($supervisord);
    }
    array_map('unlink', glob("$dir/*"));
    rmdir($dir);
});

/** An ini-like file (supervisor's config, a systemd unit) as [section => [key => value]]. */
function sections(string $file): array
{
    $sections = [];
    $section = '';
    foreach (file($file, FILE_IGNORE_NEW_LINES) as $line) {
        if (preg_match('/^\s*(?:[;#].*)?$/', $line)) {
            continue;
        }
        if (preg_match('/^\[(.+)\]$/', trim($line), $m)) {
            $section = $m[1];
            continue;
        }
        [$key, $value] = array_map('trim', explode('=', $line, 2));
        $sections[$section][$key] = $value;
    }
    return $sections;
}

/** The example's command with this PHP (build/dq.so, the test's vhost) and this checkout. */
function local_command(string $command, TestVhost $vhost): string
{
    $php = implode(' ', array_map('escapeshellarg', dq_php_command([], ['dq.amqp' => $vhost->url()], [])));
    return preg_replace('~^/usr/bin/php(?= )~', $php, str_replace('/srv/app', dq_root(), $command));
}

/** Waits up to $seconds for $check() to be true. */
function eventually(callable $check, float $seconds = 15): bool
{
    $deadline = microtime(true) + $seconds;
    while (!($ok = $check()) && microtime(true) < $deadline) {
        usleep(50000);
    }
    return (bool) $ok;
}

echo "-- supervisord\n";
$program = sections("$example/dq-worker.conf")['program:dq-worker'];
echo 'dq-worker.conf: ', implode(', ', array_map(fn ($k) => "$k=$program[$k]", ['numprocs', 'autorestart', 'exitcodes', 'stopsignal', 'stopwaitsecs'])), "\n";
// Where the test puts things: its own checkout, no user switch, logs in its directory; and a
// limit of 2 messages per process, to see a worker exit 0 and be started again.
$program['command'] = local_command($program['command'], $vhost);
$program['directory'] = $root;
$program['environment'] = 'DQ_MAX_MESSAGES="2"';
$program['stdout_logfile'] = "$dir/%(program_name)s_%(process_num)02d.log";
unset($program['user'], $program['stdout_logfile_maxbytes']);
$config = "[unix_http_server]\nfile=$dir/supervisor.sock\n\n"
    . "[supervisord]\nlogfile=$dir/supervisord.log\npidfile=$dir/supervisord.pid\nchildlogdir=$dir\nloglevel=debug\nuser=root\n\n"
    . "[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n"
    . "[supervisorctl]\nserverurl=unix://$dir/supervisor.sock\n\n"
    . "[program:dq-worker]\n";
foreach ($program as $key => $value) {
    $config .= "$key=" . ($key === 'command' ? str_replace('%', '%%', $value) : $value) . "\n";
}
file_put_contents("$dir/supervisord.conf", $config);
$ctl = fn (string ...$args) => shell_exec('supervisorctl -c ' . escapeshellarg("$dir/supervisord.conf") . ' ' . implode(' ', array_map('escapeshellarg', $args)) . ' 2>&1');
$supervisord = proc_open(['supervisord', '-n', '-c', "$dir/supervisord.conf"], [['file', '/dev/null', 'r'], ['file', "$dir/stdout", 'w'], ['file', "$dir/stdout", 'a']], $pipes);
$consumers = fn () => count(array_filter(explode("\n", dq_rabbitmqctl(['list_consumers', '-p', $vhost->name, '--no-table-headers', 'queue_name'])), 'strlen'));
echo 'both workers consuming: ', var_export(eventually(fn () => $consumers() === 2, 30), true), "\n";

$bodies = [];
for ($i = 1; $i <= 6; $i++) {
    $producer->publish('', 'order.events', "m$i");
    $bodies[] = "m$i";
}
$handled = function () use ($dir): array {
    $lines = [];
    foreach (glob("$dir/dq-worker_*.log") as $log) {
        preg_match_all('/^\[\d+\] order\.events (m\d+)$/m', file_get_contents($log), $m);
        array_push($lines, ...$m[1]);
    }
    sort($lines, SORT_NATURAL);
    return $lines;
};
echo 'each message handled once: ', var_export(eventually(fn () => $handled() === $bodies), true), ' (', implode(' ', $handled()), ")\n";
echo 'all acked: ', var_export(eventually(fn () => dq_list_queues($vhost)['order.events']['messages'] === '0'), true), "\n";
$log = fn () => file_get_contents("$dir/supervisord.log");
echo 'a worker exited 0 after 2 messages and was started again: ',
    var_export(eventually(fn () => preg_match('/exited: dq-worker_0\d \(exit status 0; expected\)/', $log()) === 1 && substr_count($log(), 'spawned: ') > 2), true), "\n";
echo 'both consuming again: ', var_export(eventually(fn () => $consumers() === 2, 30), true), "\n";

echo $ctl('stop', 'dq-worker:*');
// supervisord's own clock: from the signal it sent to the exit it saw. It looks at its children
// once a second (its poll loop's tick), so a worker that exits at once is seen within 2 s; a
// worker that waited for anything (stopwaitsecs is 60) would not be.
preg_match_all('/^(\S+ \S+) DEBG killing (dq-worker_\d+) \(pid \d+\) with signal SIGTERM$/m', $log(), $killed, PREG_SET_ORDER);
preg_match_all('/^(\S+ \S+) INFO stopped: (dq-worker_\d+) \((.+)\)$/m', $log(), $stopped, PREG_SET_ORDER);
$at = fn (string $stamp) => (float) DateTime::createFromFormat('Y-m-d H:i:s,u', $stamp . '000')->format('U.u');
foreach ($stopped as [, $when, $name, $how]) {
    $sent = array_values(array_filter($killed, fn ($k) => $k[2] === $name));
    $took = $sent ? $at($when) - $at(end($sent)[1]) : INF;
    echo "$name: SIGTERM, $how, within 2 s: ", var_export($took < 2.0, true), "\n";
}
foreach (glob("$dir/dq-worker_*.log") as $file) {
    $lines = array_filter(explode("\n", file_get_contents($file)), 'strlen');
    echo basename($file, '.log'), ' says last: ', preg_replace('/^\[\d+\]/', '[pid]', end($lines)), "\n";
}
echo 'messages left: ', dq_list_queues($vhost)['order.events']['messages'], "\n";
proc_terminate($supervisord, 15);
proc_close($supervisord);
$supervisord = null;

echo "-- systemd\n";
$unitFile = "$example/dq-worker@.service";
if (is_executable('/usr/bin/systemd-analyze')) {
    // Checked as the instance for this queue; only what it says about the unit itself counts.
    copy($unitFile, "$dir/dq-worker@order.events.service");
    exec('systemd-analyze verify --man=no ' . escapeshellarg("$dir/dq-worker@order.events.service") . ' 2>&1', $said, $status);
    $said = array_filter($said, fn ($line) => str_contains($line, 'dq-worker@'));
    echo 'systemd-analyze verify: ', $status === 0 && !$said ? 'clean' : "status $status: " . implode(' | ', $said), "\n";
}
$unit = sections($unitFile)['Service'];
echo "dq-worker@.service: KillSignal=$unit[KillSignal], TimeoutStopSec=$unit[TimeoutStopSec], Restart=$unit[Restart]\n";
$command = local_command(str_replace('%i', 'order.events', $unit['ExecStart']), $vhost);
$worker = proc_open('exec ' . $command, [['file', '/dev/null', 'r'], ['file', "$dir/unit.out", 'w'], ['file', "$dir/unit.out", 'a']], $pipes, $root, ['PATH' => getenv('PATH')]);
echo 'consuming: ', var_export(eventually(fn () => $consumers() === 1, 30), true), "\n";
$producer->publish('', 'order.events', 'u1');
$producer->publish('', 'order.events', 'u2');
echo 'handled: ', var_export(eventually(fn () => substr_count(file_get_contents("$dir/unit.out"), 'order.events u') === 2), true), "\n";
$signal = constant($unit['KillSignal']);
$sent = microtime(true);
posix_kill(proc_get_status($worker)['pid'], $signal);
$status = ['running' => true];
eventually(function () use ($worker, &$status): bool {
    $status = proc_get_status($worker); // its exit code is reported once, when it has ended
    return !$status['running'];
}, (float) $unit['TimeoutStopSec']);
$took = microtime(true) - $sent;
proc_close($worker);
printf("after %s: %s, within TimeoutStopSec: %s, within 1 s: %s\n", $unit['KillSignal'], $status['running'] ? 'still running' : ($status['signaled'] ? 'signal ' . $status['termsig'] : 'exit ' . $status['exitcode']),
    var_export($took < (float) $unit['TimeoutStopSec'], true), var_export($took < 1.0, true));
$lines = array_filter(explode("\n", file_get_contents("$dir/unit.out")), 'strlen');
echo 'it says last: ', preg_replace('/^\[\d+\]/', '[pid]', end($lines)), "\n";
echo 'messages left: ', eventually(fn () => dq_list_queues($vhost)['order.events']['messages'] === '0') ? 0 : 'some', "\n";
?>
--EXPECTF--
-- supervisord
dq-worker.conf: numprocs=2, autorestart=true, exitcodes=0, stopsignal=TERM, stopwaitsecs=60
both workers consuming: true
each message handled once: true (m1 m2 m3 m4 m5 m6)
all acked: true
a worker exited 0 after 2 messages and was started again: true
both consuming again: true
dq-worker:dq-worker_00: stopped
dq-worker:dq-worker_01: stopped
dq-worker_0%d: SIGTERM, exit status 0, within 2 s: true
dq-worker_0%d: SIGTERM, exit status 0, within 2 s: true
dq-worker_00 says last: [pid] stopped after %d messages
dq-worker_01 says last: [pid] stopped after %d messages
messages left: 0
-- systemd
systemd-analyze verify: clean
dq-worker@.service: KillSignal=SIGTERM, TimeoutStopSec=60, Restart=always
consuming: true
handled: true
after SIGTERM: exit 0, within TimeoutStopSec: true, within 1 s: true
it says last: [pid] stopped after 2 messages
messages left: 0
