<?php
declare(strict_types=1);

namespace app\command;

use app\service\DbSourceLedger;
use app\service\TransferService;
use Dq\Producer;
use think\console\Command;
use think\console\Input;
use think\console\Output;
use think\facade\Db;

/**
 * php think credit:reconcile   (cron, every minute)
 *
 * Settles transfers left pending (no reply to the credit nor to its cancel, e.g. the credit
 * service was down): asks again, refunds or completes.
 */
class TransferReconcile extends Command
{
    protected function configure(): void
    {
        $this->setName('credit:reconcile')->setDescription('Settles pending transfers older than a minute');
    }

    protected function execute(Input $input, Output $output): int
    {
        $service = new TransferService(new Producer(), new DbSourceLedger('db_a'));
        $pending = Db::connect('db_a')->table('transfer')->where('state', 'pending')
            ->where('updated_at', '<', date('Y-m-d H:i:s', time() - 60))->limit(500)->column('id');
        foreach ($pending as $id) {
            $output->writeln(json_encode($service->reconcile((string) $id)));
        }
        return 0;
    }
}
