<?php
declare(strict_types=1);

namespace App\Notify;

/**
 * POSTs a payment notification to a merchant (ext-curl, blocking: run it in a process of its
 * own, not in a coroutine of the HTTP server). Success is a 2xx answer within the timeout.
 */
final class MerchantClient
{
    public function __construct(private string $secret = '', private float $timeout = 3.0)
    {
    }

    /**
     * POSTs the notification a "pay.notify" message carries (the body PayNotifier::notify
     * published: order_id, url, payload) as attempt number $attempt.
     * @return array{0: bool, 1: string} as post()
     * @throws \UnexpectedValueException the body is not such a notification (it never will be)
     */
    public function deliver(string $message, int $attempt): array
    {
        $notification = json_decode($message, true);
        if (!is_array($notification) || !is_string($notification['url'] ?? null)) {
            throw new \UnexpectedValueException('malformed notification');
        }
        $payload = ['order_id' => $notification['order_id'] ?? null, 'attempt' => $attempt] + (array) ($notification['payload'] ?? []);
        return $this->post($notification['url'], $payload, $attempt);
    }

    /** @return array{0: bool, 1: string} delivered?, and what happened ("HTTP 503", "timeout ...") */
    public function post(string $url, array $notification, int $attempt): array
    {
        $body = json_encode($notification, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES);
        $headers = [
            'Content-Type: application/json',
            'X-Notify-Id: ' . ($notification['order_id'] ?? ''),
            "X-Notify-Attempt: $attempt",
        ];
        if ($this->secret !== '') {
            $headers[] = 'X-Notify-Signature: sha256=' . hash_hmac('sha256', $body, $this->secret);
        }
        $curl = curl_init($url);
        curl_setopt_array($curl, [
            CURLOPT_POST => true,
            CURLOPT_POSTFIELDS => $body,
            CURLOPT_HTTPHEADER => $headers,
            CURLOPT_RETURNTRANSFER => true,
            CURLOPT_TIMEOUT_MS => (int) ($this->timeout * 1000),
            CURLOPT_CONNECTTIMEOUT_MS => (int) min($this->timeout * 1000, 1000),
        ]);
        $answer = curl_exec($curl);
        $status = (int) curl_getinfo($curl, CURLINFO_RESPONSE_CODE);
        $error = curl_error($curl);
        curl_close($curl);
        if ($answer === false) {
            return [false, "no answer: $error"];
        }
        return [$status >= 200 && $status < 300, "HTTP $status"];
    }
}
