<?php
// A plain PHP-FPM page: an order was created, tell the rest of the shop with an "order.created"
// event on RabbitMQ (exchange "shop.events", topic), published with Dq\Producer.
// Needs extension=dq.so and dq.amqp in php.ini (see README.md), and the exchange and its queue
// declared once, at deploy time: php topology.php.
//
// What php-amqplib did on every request (connect, open a channel, confirm_select, publish, wait,
// close: a TCP and AMQP handshake per request) is gone: the FPM worker's connection is opened by
// its first request and kept for the next ones; `new Dq\Producer()` only picks it up.
//
//   POST /publish.php  order=1001&amount=99.50&user=42
//   CLI: php -d extension=dq.so -d dq.amqp=amqp://... publish.php 'order=1001&amount=99.50'
//        (or QUERY_STRING='order=1001' php ... publish.php)

declare(strict_types=1);

const SHOP_EVENTS = 'shop.events';

/** Publishes the event; returns its message id. Throws Dq\Exception when RabbitMQ did not take it. */
function publish_order_event(Dq\Producer $producer, array $order, string $event): string
{
    $messageId = "order-{$order['id']}-$event";
    $producer->publish(SHOP_EVENTS, "order.$event", ['event' => "order.$event"] + $order, [
        'message_id' => $messageId,      // consumers drop repeats by this id
        'type' => "order.$event",
        'app_id' => 'shop-web',
        'timestamp' => time(),
        'mandatory' => true,             // no queue bound for it: an error here, not a lost event
    ]);                                  // persistent by default; returns after the broker's confirm
    return $messageId;
}

if (PHP_SAPI === 'cli') {
    parse_str($argv[1] ?? (string) getenv('QUERY_STRING'), $input);
} else {
    $input = $_POST + $_GET;
}
$order = [
    'id' => (int) ($input['order'] ?? 0),
    'amount' => (string) ($input['amount'] ?? '0.00'),
    'user' => (int) ($input['user'] ?? 0),
    'created_at' => date(DATE_ATOM),
];

if (PHP_SAPI !== 'cli') {
    header('Content-Type: application/json');
}
if ($order['id'] <= 0 || !preg_match('/^\d+(\.\d{1,2})?$/', $order['amount'])) {
    http_response_code(422);
    echo json_encode(['error' => 'order (a positive id) and amount (like 99.50) are required']), "\n";
    return;
}
try {
    $producer = new Dq\Producer();   // dq.amqp, dq.timeout from php.ini
    $messageId = publish_order_event($producer, $order, 'created');
    echo json_encode(['published' => true, 'event' => 'order.created', 'message_id' => $messageId]), "\n";
} catch (Dq\Exception $e) {
    // ConnectionException (RabbitMQ down), TimeoutException (no confirm in dq.timeout),
    // code 10 (unroutable or nacked), code 6 (no exchange: run topology.php).
    http_response_code($e instanceof Dq\InvalidArgumentException ? 500 : 503);
    echo json_encode(['published' => false, 'error' => get_class($e) . " ({$e->getCode()}): " . $e->getMessage()]), "\n";
}
