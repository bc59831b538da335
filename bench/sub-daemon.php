<?php
// The PHP consumer daemon that a subscription replaces (bench/subscriptions.sh): php-amqplib's
// basic_consume with prefetch 10, each message POSTed with curl on one handle (so on one
// keep-alive connection), acked on 2xx, nacked back to the queue on anything else.
// Prints "consuming" once the consumer is registered; runs until SIGTERM or SIGINT.
// Usage: php bench/sub-daemon.php VHOST QUEUE CALLBACK [PREFETCH]
// Needs the curl, sockets, mbstring and pcntl extensions and php-amqplib in /usr/share/php.

declare(strict_types=1);

require '/usr/share/php/PhpAmqpLib/autoload.php';

use PhpAmqpLib\Connection\AMQPStreamConnection;
use PhpAmqpLib\Exception\AMQPTimeoutException;
use PhpAmqpLib\Message\AMQPMessage;

if ($argc < 4) {
    fwrite(STDERR, "usage: sub-daemon.php VHOST QUEUE CALLBACK [PREFETCH]\n");
    exit(2);
}
[, $vhost, $queue, $callback] = $argv;
$prefetch = (int) ($argv[4] ?? 10);

$stopping = false;
pcntl_async_signals(true);
foreach ([SIGTERM, SIGINT] as $signal) {
    pcntl_signal($signal, function () use (&$stopping): void {
        $stopping = true;
    });
}

$curl = curl_init($callback);
curl_setopt_array($curl, [
    CURLOPT_POST => true,
    CURLOPT_RETURNTRANSFER => true,
    CURLOPT_CONNECTTIMEOUT_MS => 1000,
    CURLOPT_TIMEOUT_MS => 5000,
]);

$connection = new AMQPStreamConnection('127.0.0.1', 5672, 'guest', 'guest', $vhost);
$channel = $connection->channel();
$channel->basic_qos(0, $prefetch, false);
$channel->basic_consume($queue, '', false, false, false, false, function (AMQPMessage $message) use ($curl): void {
    $type = $message->has('content_type') ? $message->get('content_type') : 'application/octet-stream';
    curl_setopt($curl, CURLOPT_HTTPHEADER, ["Content-Type: $type"]);
    curl_setopt($curl, CURLOPT_POSTFIELDS, $message->getBody());
    $answered = curl_exec($curl) !== false;
    $status = curl_getinfo($curl, CURLINFO_RESPONSE_CODE);
    if ($answered && $status >= 200 && $status < 300) {
        $message->ack();
    } else {
        $message->nack(true);
    }
});
echo "consuming\n";

while (!$stopping && $channel->is_consuming()) {
    try {
        $channel->wait(null, false, 1.0);
    } catch (AMQPTimeoutException) {
        // Nothing for a second: look at $stopping again.
    } catch (Throwable $e) {
        // A signal interrupts the socket's select; anything else is a real failure.
        if (!$stopping) {
            throw $e;
        }
    }
}
$channel->close();
$connection->close();
