<?php
// A plain PHP-FPM page (php-delayqueue style): when an order is created, schedule a check that
// closes it if still unpaid after 30 minutes; when it is paid, cancel the check.
// Needs extension=dq.so; the topic "order.timeout" is registered with dq-gateway:
//   curl -X PUT localhost:8088/v1/topics/order.timeout -d '{"callback":"http://shop.local/order/timeout"}'
// The callback receives POST {"topic","id","body","attempt","due_at"} when the time comes.

declare(strict_types=1);

function schedule_order_timeout(DqClient $dq, int $orderId, int $minutes = 30): void
{
    $dq->add('order.timeout', [
        'id' => "order-$orderId",            // one pending check per order: adding again replaces it
        'body' => ['order_id' => $orderId],
        'delay' => $minutes * 60,
    ]);
}

function cancel_order_timeout(DqClient $dq, int $orderId): bool
{
    return $dq->del('order.timeout', "order-$orderId");
}

// The connection is made once per FPM worker and kept across requests.
$dq = new DqClient();
$orderId = (int) ($_GET['order'] ?? $argv[1] ?? 1001);
$action = $_GET['action'] ?? $argv[2] ?? 'create';

try {
    if ($action === 'create') {
        schedule_order_timeout($dq, $orderId);
        $check = $dq->get('order.timeout', "order-$orderId");
        $message = sprintf('order %d: timeout check due at %s', $orderId, date('Y-m-d H:i:s', (int) $check['due_at']));
    } else {
        $message = sprintf('order %d paid: check %s', $orderId, cancel_order_timeout($dq, $orderId) ? 'cancelled' : 'was not pending');
    }
} catch (Dq\UnknownTopicException $e) {
    http_response_code(500);
    $message = 'register the topic first: ' . $e->getMessage();
} catch (Dq\Exception $e) {
    http_response_code(503);
    $message = get_class($e) . ': ' . $e->getMessage();
}
echo $message, "\n";
