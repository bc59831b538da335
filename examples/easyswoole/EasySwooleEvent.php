<?php
// EasySwooleEvent.php (project root): the parts this example adds.

namespace EasySwoole\EasySwoole;

use App\Process\PayNotifyProcess;
use EasySwoole\Component\Process\Config as ProcessConfig;
use EasySwoole\Component\Process\Manager;
use EasySwoole\EasySwoole\AbstractInterface\Event;
use EasySwoole\EasySwoole\Swoole\EventRegister;

class EasySwooleEvent implements Event
{
    public static function initialize()
    {
        date_default_timezone_set('Asia/Shanghai');
    }

    public static function mainServerCreate(EventRegister $register)
    {
        // Two notifier processes: a slow merchant holds up one of them, not every notification.
        // None (PAY_NOTIFY_PROCESSES = 0) when dq-gateway's subscription "pay-notify" delivers
        // the notifications to App/HttpController/Notify.php instead (gateway.toml).
        $processes = (int) (Config::getInstance()->getConf('PAY_NOTIFY_PROCESSES') ?? 2);
        for ($i = 0; $i < $processes; $i++) {
            Manager::getInstance()->addProcess(new PayNotifyProcess(new ProcessConfig([
                'processName' => "PayNotify.$i",
                'processGroup' => 'PayNotify',
                'enableCoroutine' => false,          // dq blocks: no coroutines in this process
                'arg' => [
                    'secret' => (string) Config::getInstance()->getConf('PAY_NOTIFY_SECRET'),
                    'timeout' => 3.0,                // seconds per merchant call
                ],
            ])));
        }
    }
}
