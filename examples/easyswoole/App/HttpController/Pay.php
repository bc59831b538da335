<?php
declare(strict_types=1);

namespace App\HttpController;

use App\Notify\MerchantClient;
use App\Notify\PayNotifier;
use Dq\Producer;
use EasySwoole\Http\AbstractInterface\Controller;

/**
 * POST /Pay/paid  order_id=..&notify_url=..&amount=..
 * Where the shop learns that an order was paid: it queues the merchant's notification (the
 * first attempt goes out at once, from a PayNotifyProcess) and answers without waiting for the
 * merchant. The publish waits for RabbitMQ's confirm (about a millisecond), blocking this
 * worker that long: dq's sockets are not coroutine sockets.
 */
class Pay extends Controller
{
    public function paid()
    {
        $orderId = (string) $this->request()->getRequestParam('order_id');
        $url = (string) $this->request()->getRequestParam('notify_url');
        if ($orderId === '' || !filter_var($url, FILTER_VALIDATE_URL)) {
            $this->writeJson(422, null, 'order_id and notify_url are required');
            return;
        }
        // One connection per worker process, kept across requests: a new Producer object is cheap.
        $notifier = new PayNotifier(new Producer(), new MerchantClient());
        $notifier->notify($orderId, $url, [
            'status' => 'paid',
            'amount' => (string) $this->request()->getRequestParam('amount'),
            'paid_at' => date('c'),
        ]);
        $this->writeJson(200, ['order_id' => $orderId, 'notify' => 'queued']);
    }
}
