<?php
// A RabbitMQ worker for supervisord or systemd: takes messages from a queue and handles them until
// SIGTERM (or SIGINT, SIGQUIT), then exits 0. The message being handled is finished and acked
// first; the others it held go back to the queue.
//
//   php worker.php QUEUE                 (or DQ_QUEUE=QUEUE php worker.php)
//
// The broker is php.ini's dq.amqp (`-d dq.amqp=amqp://user:pass@host:5672/vhost` on the command
// line works too). After DQ_MAX_MESSAGES messages (default 1000) or 128 MB of PHP memory it also
// exits 0, and the supervisor starts a fresh process: whatever a handler leaks is bounded.

$queue = $argv[1] ?? (getenv('DQ_QUEUE') ?: '');
if ($queue === '') {
    fwrite(STDERR, "usage: php worker.php QUEUE (or DQ_QUEUE=QUEUE php worker.php)\n");
    exit(2);
}
$pid = getmypid();
$consumer = new Dq\Consumer($queue, ['prefetch' => 10]);

$handled = $consumer->consume(
    function (Dq\DeliveryInterface $message) use ($pid): void {
        // The application's work goes here. Returning acks the message; throwing nacks it (put
        // back in the queue once, then dead-lettered, or dropped if the queue has no
        // dead-letter exchange).
        echo "[$pid] ", $message->routingKey(), ' ', $message->body(), "\n";
    },
    [
        'max_messages' => (int) (getenv('DQ_MAX_MESSAGES') ?: 1000),
        'max_memory_mb' => 128,
        'on_error' => function (Throwable $e, Dq\DeliveryInterface $message) use ($pid): void {
            fwrite(STDERR, "[$pid] failed on " . $message->body() . ": $e\n");
        },
    ],
);
echo "[$pid] stopped after $handled messages\n";
