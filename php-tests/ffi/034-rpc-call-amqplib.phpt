--TEST--
DqFfi\Producer::call answered by a php-amqplib responder in another process; no answer -> TimeoutException; no route -> code 10
--EXTENSIONS--
ffi
mbstring
sockets
--SKIPIF--
<?php require __DIR__ . '/inc.php'; dq_ffi_skipif(); if (!function_exists('pcntl_fork')) echo 'skip pcntl not available'; ?>
--FILE--
<?php
require __DIR__ . '/inc.php';
require_once '/usr/share/php/PhpAmqpLib/autoload.php';

use PhpAmqpLib\Message\AMQPMessage;

$vhost = new TestVhost('ffi-rpc-dq-calls-amqplib');
$producer = new DqFfi\Producer(['amqp' => $vhost->url(), 'timeout' => 2.0]);
$producer->declareQueue('rpc.requests');
$producer->bindQueue('rpc.requests', 'amq.direct', 'rpc');
$producer->declareQueue('rpc.idle');

$ready = tempnam(sys_get_temp_dir(), 'dq-rpc-');
$pid = pcntl_fork();
if ($pid === 0) {
    // The responder: php-amqplib's usual RPC server, answering to reply_to with the
    // correlation_id until it is told to stop (or 10 s pass).
    $code = 1;
    try {
        $connection = dq_amqplib($vhost);
        $channel = $connection->channel();
        $channel->basic_qos(0, 1, false);
        $stop = false;
        $channel->basic_consume('rpc.requests', '', false, false, false, false, function (AMQPMessage $request) use (&$stop) {
            $seen = [
                'body' => $request->getBody(),
                'reply_to' => preg_replace('/^(amq\.rabbitmq\.reply-to)\..+$/', '$1.*', $request->get('reply_to')),
                'correlation_id' => strlen($request->get('correlation_id')) >= 16,
                'app_id' => $request->has('app_id') ? $request->get('app_id') : null,
                'content_type' => $request->has('content_type') ? $request->get('content_type') : null,
            ];
            $stop = $request->getBody() === 'stop';
            $reply = new AMQPMessage('reply ' . json_encode($seen) . " \x00\xff", ['correlation_id' => $request->get('correlation_id')]);
            $request->getChannel()->basic_publish($reply, '', $request->get('reply_to'));
            $request->ack();
        });
        file_put_contents($ready, 'ready');
        $deadline = microtime(true) + 10;
        while (!$stop && microtime(true) < $deadline) {
            try {
                $channel->wait(null, false, 0.2);
            } catch (PhpAmqpLib\Exception\AMQPTimeoutException) {
            }
        }
        $channel->close();
        $connection->close();
        $code = $stop ? 0 : 2;
    } catch (Throwable $e) {
        fwrite(STDERR, "responder: $e\n");
    }
    exit($code);
}
dq_ffi_poll(fn () => file_get_contents($ready) !== '' ?: null, 10.0);
unlink($ready);

/** The reply, its last two (binary) bytes in hex. */
function shown(string $reply): string
{
    return substr($reply, 0, -2) . bin2hex(substr($reply, -2));
}

echo "-- answered\n";
echo shown($producer->call('amq.direct', 'rpc', 'ping', 3.0)), "\n";
echo shown($producer->call('amq.direct', 'rpc', ['n' => 1], 3.0, ['app_id' => 'caller'])), "\n";
echo shown($producer->call('', 'rpc.requests', 'via the default exchange', 3.0)), "\n";

echo "-- nobody answers\n";
[$e, $elapsed] = dq_timed(fn () => $producer->call('', 'rpc.idle', 'hello?', 0.5));
dq_show($e);
echo 'waited its 0.5 s: ', var_export($elapsed >= 0.5, true), "\n";

echo "-- no queue takes it\n";
[$e] = dq_timed(fn () => $producer->call('amq.direct', 'nobody.here', 'hello?', 3.0));
dq_show($e);

echo "-- still answered afterwards\n";
echo shown($producer->call('amq.direct', 'rpc', 'stop', 3.0)), "\n";
pcntl_waitpid($pid, $status);
echo 'responder: ', pcntl_wifexited($status) ? 'exit ' . pcntl_wexitstatus($status) : 'signal ' . pcntl_wtermsig($status), "\n";
echo json_encode(dq_list_queues($vhost)), "\n";
?>
--EXPECTF--
-- answered
reply {"body":"ping","reply_to":"amq.rabbitmq.reply-to.*","correlation_id":true,"app_id":null,"content_type":null} 00ff
reply {"body":"{\"n\":1}","reply_to":"amq.rabbitmq.reply-to.*","correlation_id":true,"app_id":"caller","content_type":"application\/json"} 00ff
reply {"body":"via the default exchange","reply_to":"amq.rabbitmq.reply-to.*","correlation_id":true,"app_id":null,"content_type":null} 00ff
-- nobody answers
Dq\TimeoutException(5): no reply to %x within 0.500s (exchange "", routing key "rpc.idle")
waited its 0.5 s: true
-- no queue takes it
Dq\Exception(10): message to exchange "amq.direct" with routing key "nobody.here" is unroutable: 312 NO_ROUTE (no queue is bound to take it)
-- still answered afterwards
reply {"body":"stop","reply_to":"amq.rabbitmq.reply-to.*","correlation_id":true,"app_id":null,"content_type":null} 00ff
responder: exit 0
{"rpc.idle":{"messages":"1"},"rpc.requests":{"messages":"0"}}
