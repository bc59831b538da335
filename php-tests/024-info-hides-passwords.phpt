--TEST--
php --ri dq and phpinfo() (text, and HTML from a web SAPI) never show the passwords of dq.redis dq.amqp or dq.mysql, in the local or the master value
--EXTENSIONS--
dq
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$php = escapeshellarg(PHP_BINARY) . ' -n -d extension=' . escapeshellarg(dq_root() . '/build/dq.so')
    . ' -d ' . escapeshellarg('dq.amqp=amqp://user:s3cret@mq.internal:5672/%2f')
    . ' -d ' . escapeshellarg('dq.redis=redis://:s3cret@10.0.0.1:6379/2,10.0.0.2:6380:s3cret,redis://app:s3cret@r:6379/0')
    . ' -d ' . escapeshellarg('dq.mysql=mysql://dq:s3cret@db.internal:3306/dq');
// ini_set() gives local values that differ from the master (-d) ones (a raw "/" in a password).
$local = 'ini_set("dq.amqp", "amqp://local:l0cal/s3cret@mq2:5672/v"); ini_set("dq.redis", "127.0.0.1:6379:l0cal-s3cret"); ini_set("dq.prefix", ""); ini_set("dq.mysql", "mysql://dq:l0cal-s3cret@db2/dq");';

echo "-- php --ri dq\n";
$info = (string) shell_exec("$php --ri dq");
echo trim($info), "\n";
echo "shows a password: ", var_export(str_contains($info, 's3cret'), true), "\n";

echo "-- phpinfo() after ini_set()\n";
$all = (string) shell_exec("$php -r " . escapeshellarg($local . ' phpinfo(INFO_MODULES);'));
preg_match_all('/^dq\.\w+ => .*$/m', $all, $m);
echo implode("\n", $m[0]), "\n";
echo "shows a password: ", var_export(str_contains($all, 's3cret'), true), "\n";
// Every dq.* directive is in the table.
$directives = array_keys(ini_get_all('dq'));
echo "every directive listed: ", var_export(count($m[0]) === count($directives), true), "\n";

echo "-- phpinfo() as HTML (PHP's built-in web server)\n";
$dir = sys_get_temp_dir() . '/' . dq_test_prefix('info');
mkdir($dir);
file_put_contents("$dir/info.php", "<?php $local phpinfo(INFO_MODULES);");
$port = dq_closed_port();
$server = proc_open(
    "exec $php -S 127.0.0.1:$port -t " . escapeshellarg($dir),
    [['file', '/dev/null', 'r'], ['file', '/dev/null', 'w'], ['file', '/dev/null', 'w']],
    $pipes
);
$html = false;
for ($i = 0; $i < 200 && $html === false; $i++) {
    usleep(25000);
    $html = @file_get_contents("http://127.0.0.1:$port/info.php");
}
proc_terminate($server);
proc_close($server);
unlink("$dir/info.php");
rmdir($dir);
$html = (string) $html;
preg_match_all('~<tr><td class="e">(dq\.\w+)\s*</td><td class="v">(.*?)\s*</td><td class="v">(.*?)\s*</td></tr>~', $html, $rows, PREG_SET_ORDER);
foreach ($rows as [, $name, $localValue, $masterValue]) {
    echo "$name | $localValue | $masterValue\n";
}
echo "shows a password: ", var_export(str_contains($html, 's3cret'), true), "\n";
?>
--EXPECTF--
-- php --ri dq
dq

dq support => enabled
Version => %s
Effective Redis => redis://:***@10.0.0.1:6379/2,10.0.0.2:6380:***,redis://app:***@r:6379/0
Effective RabbitMQ => amqp://user:***@mq.internal:5672/%2f
Effective prefix => dq
Effective MySQL (XA log) => mysql://dq:***@db.internal:3306/dq
Effective timeout => 3.000 s
Runtime => created on first use, per process (rebuilt after fork)

Directive => Local Value => Master Value
dq.redis => redis://:***@10.0.0.1:6379/2,10.0.0.2:6380:***,redis://app:***@r:6379/0 => redis://:***@10.0.0.1:6379/2,10.0.0.2:6380:***,redis://app:***@r:6379/0
dq.amqp => amqp://user:***@mq.internal:5672/%2f => amqp://user:***@mq.internal:5672/%2f
dq.prefix => dq => dq
dq.timeout => 3.0 => 3.0
dq.replicas => 0 => 0
dq.amqp_queue_type => classic => classic
dq.mysql => mysql://dq:***@db.internal:3306/dq => mysql://dq:***@db.internal:3306/dq
shows a password: false
-- phpinfo() after ini_set()
dq.redis => 127.0.0.1:6379:*** => redis://:***@10.0.0.1:6379/2,10.0.0.2:6380:***,redis://app:***@r:6379/0
dq.amqp => amqp://***@mq2:5672/v => amqp://user:***@mq.internal:5672/%2f
dq.prefix => no value => dq
dq.timeout => 3.0 => 3.0
dq.replicas => 0 => 0
dq.amqp_queue_type => classic => classic
dq.mysql => mysql://dq:***@db2:3306/dq => mysql://dq:***@db.internal:3306/dq
shows a password: false
every directive listed: true
-- phpinfo() as HTML (PHP's built-in web server)
dq.redis | 127.0.0.1:6379:*** | redis://:***@10.0.0.1:6379/2,10.0.0.2:6380:***,redis://app:***@r:6379/0
dq.amqp | amqp://***@mq2:5672/v | amqp://user:***@mq.internal:5672/%2f
dq.prefix | no value | dq
dq.timeout | 3.0 | 3.0
dq.replicas | 0 | 0
dq.amqp_queue_type | classic | classic
dq.mysql | mysql://dq:***@db2:3306/dq | mysql://dq:***@db.internal:3306/dq
shows a password: false
