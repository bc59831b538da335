--TEST--
Dq\Producer, Dq\Consumer with RabbitMQ down: Dq\ConnectionException (code 4) naming the address at once; a server that never answers: Dq\TimeoutException within the timeout, no hang
--EXTENSIONS--
dq
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';

/**
 * Runs the operations against $url with a 0.5 s timeout (all of them, or those named in $only);
 * prints what each threw and whether it took less than $limit seconds.
 */
function every_operation(string $url, float $limit, array $only = []): void
{
    $producer = new Dq\Producer(['amqp' => $url, 'timeout' => 0.5]);
    $operations = [
        'publish' => fn () => $producer->publish('', 'q', 'x'),
        'publish again' => fn () => $producer->publish('amq.direct', 'q', ['x' => 1], ['mandatory' => true]),
        'publishBatch' => fn () => $producer->publishBatch('', [['routing_key' => 'q', 'body' => 'x']]),
        'publishDelayed' => fn () => $producer->publishDelayed('', 'q', 'x', 1.0),
        'call' => fn () => $producer->call('', 'q', 'x', 2.0),
        'declareExchange' => fn () => $producer->declareExchange('e'),
        'declareQueue' => fn () => $producer->declareQueue('q'),
        'bindQueue' => fn () => $producer->bindQueue('q', 'amq.direct'),
        'Consumer::next' => fn () => (new Dq\Consumer('q', ['amqp' => $url, 'timeout' => 0.5]))->next(0.1),
    ];
    foreach ($only ? array_intersect_key($operations, array_flip($only)) : $operations as $name => $operation) {
        [$e, $elapsed] = dq_timed($operation);
        echo "$name: ";
        if ($e instanceof Throwable) {
            dq_show($e);
        } else {
            echo "no exception\n";
        }
        echo '  quick enough: ', var_export($elapsed < $limit, true), "\n";
    }
}

echo "-- nothing listens\n";
$port = dq_closed_port();
every_operation("amqp://guest:secret@127.0.0.1:$port/%2f", 0.5);

echo "-- a server that accepts connections and never answers\n";
$silent = stream_socket_server('tcp://127.0.0.1:0');
$port = (int) explode(':', stream_socket_get_name($silent, false))[1];
every_operation("amqp://guest:secret@127.0.0.1:$port/%2f", 1.5, ['publish', 'publish again', 'publishDelayed', 'call', 'Consumer::next']);
fclose($silent);
?>
--EXPECTF--
-- nothing listens
publish: Dq\ConnectionException(4): cannot connect: RabbitMQ at amqp://guest:***@127.0.0.1:%d/%2f: IO error: Connection refused (os error 111)
  quick enough: true
publish again: Dq\ConnectionException(4): cannot connect: RabbitMQ at amqp://guest:***@127.0.0.1:%d/%2f: IO error: Connection refused (os error 111)
  quick enough: true
publishBatch: Dq\ConnectionException(4): cannot connect: RabbitMQ at amqp://guest:***@127.0.0.1:%d/%2f: IO error: Connection refused (os error 111)
  quick enough: true
publishDelayed: Dq\ConnectionException(4): cannot connect: RabbitMQ at amqp://guest:***@127.0.0.1:%d/%2f: IO error: Connection refused (os error 111)
  quick enough: true
call: Dq\ConnectionException(4): cannot connect: RabbitMQ at amqp://guest:***@127.0.0.1:%d/%2f: IO error: Connection refused (os error 111)
  quick enough: true
declareExchange: Dq\ConnectionException(4): cannot connect: RabbitMQ at amqp://guest:***@127.0.0.1:%d/%2f: IO error: Connection refused (os error 111)
  quick enough: true
declareQueue: Dq\ConnectionException(4): cannot connect: RabbitMQ at amqp://guest:***@127.0.0.1:%d/%2f: IO error: Connection refused (os error 111)
  quick enough: true
bindQueue: Dq\ConnectionException(4): cannot connect: RabbitMQ at amqp://guest:***@127.0.0.1:%d/%2f: IO error: Connection refused (os error 111)
  quick enough: true
Consumer::next: Dq\ConnectionException(4): cannot connect: RabbitMQ at amqp://guest:***@127.0.0.1:%d/%2f: IO error: Connection refused (os error 111)
  quick enough: true
-- a server that accepts connections and never answers
publish: Dq\TimeoutException(5): RabbitMQ at amqp://guest:***@127.0.0.1:%d/%2f did not answer within 0.500s
  quick enough: true
publish again: Dq\TimeoutException(5): RabbitMQ at amqp://guest:***@127.0.0.1:%d/%2f did not answer within 0.500s
  quick enough: true
publishDelayed: Dq\TimeoutException(5): RabbitMQ at amqp://guest:***@127.0.0.1:%d/%2f did not answer within 0.500s
  quick enough: true
call: Dq\TimeoutException(5): RabbitMQ at amqp://guest:***@127.0.0.1:%d/%2f did not answer within 0.500s
  quick enough: true
Consumer::next: Dq\TimeoutException(5): RabbitMQ at amqp://guest:***@127.0.0.1:%d/%2f did not answer within 0.500s
  quick enough: true
