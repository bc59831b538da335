<?php
// The credit service's worker: takes credit messages from "transfer.credit" and applies each
// once in bank2 (app/service/Credit.php), acking it after the commit. Run it under supervisord
// or systemd (see examples/worker/), as many as you like.
//   php -d extension=dq.so examples/transfer/worker.php
// Databases: DQ_TRANSFER_BANK2 (mysql:// URL, default db_bank2 on 127.0.0.1); RabbitMQ:
// DQ_TRANSFER_AMQP, else php.ini's dq.amqp.
//
// SIGTERM, SIGINT or SIGQUIT: the message in hand is finished and acked, the others go back to
// the queue, exit 0. SIGKILL (or a crash) at any moment: whatever was not acked is delivered
// again, and the inbox claim keeps each credit to one. If bank2 fails, the message goes back to
// the queue and the worker exits 1 for its supervisor to start a fresh one (new connection).
declare(strict_types=1);

use app\service\BadMessage;
use app\service\Credit;
use app\service\Database;

$config = require __DIR__ . '/bootstrap.php';
$pid = getmypid();
$credit = new Credit(Database::connect($config['bank2']));
$options = ['prefetch' => 10];
if ($config['amqp'] !== '') {
    $options['amqp'] = $config['amqp'];
}
$consumer = new Dq\Consumer(Credit::QUEUE, $options);
echo "[$pid] consuming ", Credit::QUEUE, "\n";

$handled = $consumer->consume(
    function (Dq\DeliveryInterface $delivery) use ($credit, $pid): void {
        try {
            $done = $credit->handle($delivery);
        } catch (BadMessage $e) {
            $delivery->nack(false);   // to transfer.credit.failed: it would fail every time
            echo "[$pid] rejected: {$e->getMessage()}\n";
            return;
        } catch (PDOException $e) {
            $delivery->nack(true);    // bank2's trouble, not the message's: back to the queue
            throw $e;                 // and on_error ends the worker
        }
        // Returning acks it: after the commit, so a crash before this line redelivers it.
        echo "[$pid] ", $done['applied'] ? 'credited' : 'copy skipped (credited before):',
            " {$done['transfer']} {$done['to']} {$done['amount']}\n";
    },
    [
        'on_error' => function (Throwable $e, Dq\DeliveryInterface $delivery) use ($pid): void {
            fwrite(STDERR, "[$pid] " . get_class($e) . ": {$e->getMessage()}\n");
            if ($e instanceof PDOException) {
                throw $e;   // consume() ends and throws it: exit 1, the supervisor restarts us
            }
        },
    ],
);
echo "[$pid] stopped after $handled messages\n";
