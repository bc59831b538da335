--TEST--
php-delayqueue's README sample runs unchanged on dq.so (DqClient, addServer, add with fix_time, get, del)
--DESCRIPTION--
The sample is verbatim except for two things: its include line ('DqLoader.php') is replaced by the
test's set-up (a private gateway registering the topic, dq.prefix, and msectime() as DqLoader.php
defined it), and its server list points at 127.0.0.1:6379. The checks come after it.
--EXTENSIONS--
dq
--FILE--
<?php
require __DIR__ . '/inc/dq.inc'; $gw = new TestGateway(dq_test_prefix('php-delayqueue')); $gw->topic('order_openvip_checker'); ini_set('dq.prefix', $gw->prefix); function msectime() { list($msec, $sec) = explode(' ', microtime()); return (float)sprintf('%.0f', (floatval($msec) + floatval($sec)) * 1000); }
date_default_timezone_set("PRC");
//可配置多个
$server=array(
    '127.0.0.1:6379',
);
$dqClient = new DqClient();
$dqClient->addServer($server);

$topic ='order_openvip_checker'; //topic在后台注册
$id = uniqid();
$data=array(
    'id'=>$id,
    'body'=>array(
        'a'=>1,
        'b'=>2,
        'c'=>3,
        'ext'=>str_repeat('a',64),
    ),
    //可选，设置后以这个通知时间为准，默认延时时间在注册topic的时候指定
    'fix_time'=>date('Y-m-d 23:50:50'),
);
$time=msectime();
//添加
$boolRet = $dqClient->add($topic, $data);
echo 'add耗时:'.(msectime() - $time)."ms\n";
//查询
$time = msectime();
$result = $dqClient->get($topic, $id);
echo 'get耗时:'.(msectime() - $time)."ms\n";

//删除
$time = msectime();
$boolRet = $dqClient->del($topic,$id);
echo 'del耗时:'.(msectime() - $time)."ms\n";

// The checks.
echo "---\n";
var_dump($boolRet, get_class($dqClient));
var_dump(array_keys($result));
var_dump($result['topic'] === $topic, $result['id'] === $id, $result['body'] === $data['body'], $result['attempts']);
$due = strtotime($data['fix_time']); // 23:50:50 tonight, Beijing time
echo "due_at is tonight 23:50:50 Beijing time (or now, if that has passed): ",
    var_export($due > time() ? $result['due_at'] === (float) $due && $result['state'] === 'delayed'
                             : $result['state'] === 'ready' && abs($result['due_at'] - time()) < 2, true), "\n";
echo "in Beijing: ", (new DateTime('@' . (int) $result['due_at']))->setTimezone(new DateTimeZone('Asia/Shanghai'))->format('H:i:s') === '23:50:50' || $due <= time() ? 'ok' : 'wrong', "\n";
var_dump($dqClient->get($topic, $id), $dqClient->del($topic, $id));
$all = $dqClient->stats($topic);
var_dump(array_sum($all));
?>
--EXPECTF--
add耗时:%dms
get耗时:%dms
del耗时:%dms
---
bool(true)
string(9) "Dq\Client"
array(6) {
  [0]=>
  string(5) "topic"
  [1]=>
  string(2) "id"
  [2]=>
  string(4) "body"
  [3]=>
  string(6) "due_at"
  [4]=>
  string(8) "attempts"
  [5]=>
  string(5) "state"
}
bool(true)
bool(true)
bool(true)
int(0)
due_at is tonight 23:50:50 Beijing time (or now, if that has passed): true
in Beijing: ok
NULL
bool(false)
int(0)
