--TEST--
A php-amqplib RPC client (exclusive callback queue, and direct reply-to) answered by Dq\Consumer + Delivery::reply in another process
--EXTENSIONS--
dq
mbstring
sockets
--SKIPIF--
<?php if (!function_exists('pcntl_fork')) die('skip pcntl not available'); ?>
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
require_once '/usr/share/php/PhpAmqpLib/autoload.php';

use PhpAmqpLib\Message\AMQPMessage;

$vhost = new TestVhost('rpc-amqplib-calls-dq');
// Declared before the fork on a connection closed before it: a child must not inherit (and
// close, on exit) the parent's php-amqplib connection.
$setup = dq_amqplib($vhost);
$setup->channel()->queue_declare('rpc.requests', false, true, false, false);
$setup->close();

/** Bytes as printable text. */
function printable(string $bytes): string
{
    return addcslashes($bytes, "\0..\37\177..\377");
}

$report = tempnam(sys_get_temp_dir(), 'dq-rpc-');
$pid = pcntl_fork();
if ($pid === 0) {
    // The responder: dq only.
    $log = fn (string $line) => file_put_contents($report, "$line\n", FILE_APPEND);
    $code = 1;
    try {
        $consumer = new Dq\Consumer('rpc.requests', ['amqp' => $vhost->url(), 'prefetch' => 1]);
        $deadline = microtime(true) + 10;
        while (microtime(true) < $deadline) {
            $request = $consumer->next(0.2);
            if ($request === null) {
                continue;
            }
            $body = $request->body();
            try {
                $request->reply($body === 'array please' ? ['echo' => $body] : "echo $body");
                $log('replied to ' . printable($body));
            } catch (Throwable $e) {
                $log("$body: " . get_class($e) . '(' . $e->getCode() . '): ' . $e->getMessage());
            }
            $request->ack();
            if ($body === 'stop') {
                $code = 0;
                break;
            }
        }
    } catch (Throwable $e) {
        $log('responder threw ' . get_class($e) . ': ' . $e->getMessage());
    }
    exit($code);
}

/** php-amqplib's RPC client pattern: publish with reply_to and a correlation id, wait for the reply with that id. */
function rpc_call(PhpAmqpLib\Channel\AMQPChannel $channel, string $replyTo, string $body, array $properties = []): ?AMQPMessage
{
    static $n = 0;
    $id = 'corr-' . ++$n . '-' . bin2hex(random_bytes(4));
    $response = null;
    $tag = $channel->basic_consume($replyTo, '', false, true, false, false, function (AMQPMessage $reply) use ($id, &$response) {
        if ($reply->get('correlation_id') === $id) {
            $response = $reply;
        }
    });
    $channel->basic_publish(new AMQPMessage($body, $properties + ['reply_to' => $replyTo, 'correlation_id' => $id]), '', 'rpc.requests');
    $deadline = microtime(true) + 3;
    while ($response === null && microtime(true) < $deadline) {
        try {
            $channel->wait(null, false, 0.2);
        } catch (PhpAmqpLib\Exception\AMQPTimeoutException) {
        }
    }
    $channel->basic_cancel($tag);
    if ($response !== null) {
        echo '  ', printable($response->getBody()), ' | correlation_id ', $response->get('correlation_id') === $id ? 'matches' : 'WRONG: ' . $response->get('correlation_id'),
            ' | content_type ', $response->has('content_type') ? $response->get('content_type') : '-', "\n";
    }
    return $response;
}

$connection = dq_amqplib($vhost);
$channel = $connection->channel();

echo "-- exclusive callback queue\n";
[$callbackQueue] = $channel->queue_declare('', false, false, true, false);
var_dump(str_starts_with($callbackQueue, 'amq.gen-'));
rpc_call($channel, $callbackQueue, 'first');
rpc_call($channel, $callbackQueue, "bytes \x00\xff ✓");
rpc_call($channel, $callbackQueue, 'array please');

echo "-- direct reply-to\n";
rpc_call($channel, 'amq.rabbitmq.reply-to', 'second');

echo "-- no reply_to: reply() refuses\n";
$channel->basic_publish(new AMQPMessage('fire and forget'), '', 'rpc.requests');
rpc_call($channel, $callbackQueue, 'stop');

pcntl_waitpid($pid, $status);
echo 'responder: ', pcntl_wifexited($status) ? 'exit ' . pcntl_wexitstatus($status) : 'signal ' . pcntl_wtermsig($status), "\n";
echo file_get_contents($report);
unlink($report);
$channel->close();
$connection->close();
?>
--EXPECT--
-- exclusive callback queue
bool(true)
  echo first | correlation_id matches | content_type -
  echo bytes \000\377 \342\234\223 | correlation_id matches | content_type -
  {"echo":"array please"} | correlation_id matches | content_type application/json
-- direct reply-to
  echo second | correlation_id matches | content_type -
-- no reply_to: reply() refuses
  echo stop | correlation_id matches | content_type -
responder: exit 0
replied to first
replied to bytes \000\377 \342\234\223
replied to array please
replied to second
fire and forget: Dq\InvalidArgumentException(2): the message has no reply_to: nobody waits for a reply
replied to stop
