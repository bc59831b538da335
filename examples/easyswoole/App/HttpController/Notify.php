<?php
declare(strict_types=1);

namespace App\HttpController;

use App\Notify\MerchantClient;
use EasySwoole\EasySwoole\Config;
use EasySwoole\Http\AbstractInterface\Controller;

/**
 * POST /Notify/pay: one attempt of the payment-notify ladder, as the endpoint of dq-gateway's
 * subscription "pay-notify" (gateway.toml), in place of the PayNotifyProcess processes. The
 * gateway consumes "pay.notify" (what Pay::paid queues) and POSTs each notification here with
 * X-Dq-Attempt (1, 2, ...) and X-Dq-Signature: sha256=<HMAC-SHA256 of the body> with the
 * subscription's secret (DQ_NOTIFY_SECRET in EasySwoole's config; empty: not checked).
 *
 * This action calls the merchant once and says how it went: 200 when the merchant answered 2xx
 * (the gateway acks the notification), 502 when it did not (the gateway tries again after 1, 3,
 * 5, 15 and 30 s, and gives the notification up to <prefix>.dead.pay-notify after the 6th
 * attempt), 410 for a body that is not a notification (given up at once). The waiting between
 * attempts is the gateway's: no process or timer of ours holds a pending notification.
 *
 * No dq call here, so nothing blocks on dq's sockets. The merchant call is ext-curl: with
 * Swoole's curl hook (SWOOLE_HOOK_NATIVE_CURL, part of SWOOLE_HOOK_ALL) it yields the coroutine
 * rather than holding the worker for up to the client's timeout.
 */
class Notify extends Controller
{
    public function pay()
    {
        $body = $this->request()->getBody()->__toString();   // the raw body: the signature is over these bytes
        $secret = (string) Config::getInstance()->getConf('DQ_NOTIFY_SECRET');
        $signature = (string) ($this->request()->getHeader('x-dq-signature')[0] ?? '');
        if ($secret !== '' && !hash_equals('sha256=' . hash_hmac('sha256', $body, $secret), $signature)) {
            $this->writeJson(401, null, 'X-Dq-Signature does not match the body');
            return;
        }
        $attempt = max(1, (int) ($this->request()->getHeader('x-dq-attempt')[0] ?? 1));
        // The merchant's own secret signs what it receives (X-Notify-Signature), as before.
        $merchant = new MerchantClient((string) Config::getInstance()->getConf('PAY_NOTIFY_SECRET'), 3.0);
        try {
            [$delivered, $what] = $merchant->deliver($body, $attempt);
        } catch (\UnexpectedValueException $e) {
            $this->writeJson(410, null, $e->getMessage());
            return;
        }
        $this->writeJson($delivered ? 200 : 502, ['attempt' => $attempt, 'merchant' => $what]);
    }
}
