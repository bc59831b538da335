<?php
declare(strict_types=1);

namespace App\Process;

use App\Notify\MerchantClient;
use App\Notify\PayNotifier;
use Dq\Consumer;
use Dq\Producer;
use EasySwoole\Component\Process\AbstractProcess;

/**
 * An EasySwoole custom process running the payment-notify ladder (PayNotifier) on the
 * "pay.notify" queue. Registered in EasySwooleEvent::mainServerCreate, one or more of them.
 *
 * dq's calls block (they are not Swoole coroutine sockets), so this process is registered with
 * enableCoroutine => false and does nothing else; each process opens its own RabbitMQ
 * connection after the fork (dq never uses its parent's).
 */
class PayNotifyProcess extends AbstractProcess
{
    private bool $stopping = false;

    protected function run($arg)
    {
        $arg = (array) $arg;
        $producer = new Producer(isset($arg['amqp']) ? ['amqp' => $arg['amqp']] : []);
        $notifier = new PayNotifier($producer, new MerchantClient($arg['secret'] ?? '', (float) ($arg['timeout'] ?? 3.0)));
        $notifier->declare();
        $consumer = new Consumer(PayNotifier::QUEUE, ['prefetch' => (int) ($arg['prefetch'] ?? 1)]);
        $notifier->run($consumer, fn (): bool => $this->stopping, function (string $outcome, $delivery): void {
            echo date('H:i:s'), ' ', $delivery->properties()['message_id'] ?? '-', " $outcome\n";
        });
    }

    protected function onShutDown()
    {
        // The loop sees it within a second (Consumer::next's wait); unacked notifications go back to the queue.
        $this->stopping = true;
    }

    protected function onException(\Throwable $throwable, ...$args)
    {
        // A broken connection or a merchant client bug: log it; EasySwoole restarts the process.
        echo 'PayNotifyProcess: ', get_class($throwable), ': ', $throwable->getMessage(), "\n";
    }
}
