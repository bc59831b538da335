<?php
declare(strict_types=1);

namespace app\command;

use app\service\CreditHandler;
use app\service\DbCreditStore;
use app\service\TransferService;
use Dq\Consumer;
use Dq\Producer;
use think\console\Command;
use think\console\Input;
use think\console\input\Option;
use think\console\Output;

/**
 * php think credit:worker [--prefetch=10]
 *
 * The credit service: consumes TransferService::QUEUE, credits db_b once per transfer id and
 * replies. Run it under supervisor/systemd, as many as you like (each request goes to one).
 * SIGTERM: finishes the request in hand and exits within a second.
 */
class CreditWorker extends Command
{
    private bool $stopping = false;

    protected function configure(): void
    {
        $this->setName('credit:worker')
            ->addOption('prefetch', null, Option::VALUE_REQUIRED, 'requests taken ahead', 10)
            ->setDescription('Credits transfers asked for over RabbitMQ, once per transfer id');
    }

    protected function execute(Input $input, Output $output): int
    {
        if (function_exists('pcntl_async_signals')) {
            pcntl_async_signals(true);
            foreach ([SIGTERM, SIGINT] as $signal) {
                pcntl_signal($signal, function (): void {
                    $this->stopping = true;
                });
            }
        }
        (new Producer())->declareQueue(TransferService::QUEUE);   // durable; a no-op when it exists
        $consumer = new Consumer(TransferService::QUEUE, ['prefetch' => (int) $input->getOption('prefetch')]);
        $handled = (new CreditHandler(new DbCreditStore('db_b')))->run(
            $consumer,
            fn (): bool => $this->stopping,
            fn (array $outcome) => $output->writeln(json_encode($outcome, JSON_UNESCAPED_UNICODE)),
        );
        $output->writeln("credit:worker stopped after $handled requests");
        return 0;
    }
}
