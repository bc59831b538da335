--TEST--
Dq\Consumer::consume(): acks what the handler returned from, not what it settled itself; a handler that throws nacks (requeued once, then dead-lettered; or at once without requeue_on_error), reported to on_error or error_log() while the loop goes on; max_messages, max_seconds, max_memory_mb; options checked
--EXTENSIONS--
dq
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$vhost = new TestVhost('consume');
$url = $vhost->url();
$producer = new Dq\Producer(['amqp' => $url]);
$producer->declareQueue('jobs');
$producer->declareQueue('dead');
$producer->declareQueue('work', ['arguments' => ['x-dead-letter-exchange' => '', 'x-dead-letter-routing-key' => 'dead']]);
$consumer = fn (string $queue, int $prefetch = 1) => new Dq\Consumer($queue, ['amqp' => $url, 'prefetch' => $prefetch]);
$left = function (string $queue) use ($vhost): string {
    return $queue . ': ' . (dq_list_queues($vhost)[$queue]['messages'] ?? '?');
};
/** The bodies waiting in $queue (taken and acked), with the reason they were dead-lettered, if so. */
$drain = function (string $queue) use ($consumer): string {
    $c = $consumer($queue, 10);
    $bodies = [];
    while ($d = $c->next(0.5)) {
        $bodies[] = $d->body() . (isset($d->properties()['headers']['x-first-death-reason']) ? ' (' . $d->properties()['headers']['x-first-death-reason'] . ')' : '');
        $d->ack();
    }
    sort($bodies);
    return $queue . ': ' . ($bodies ? implode(', ', $bodies) : 'empty');
};

echo "-- max_messages: acked as each handler returns\n";
foreach (['j1', 'j2', 'j3', 'j4', 'j5'] as $body) {
    $producer->publish('', 'jobs', $body);
}
$c = $consumer('jobs');
$seen = [];
$n = $c->consume(function (Dq\DeliveryInterface $d) use (&$seen) {
    $seen[] = $d->body();
}, ['max_messages' => 3]);
echo "returned $n, handled ", implode(' ', $seen), "\n";
unset($c);
echo $left('jobs'), "\n";

echo "-- max_seconds: the rest, then no wait beyond the limit (timeout 5 s notwithstanding)\n";
$c = $consumer('jobs');
$seen = [];
[$n, $elapsed] = dq_timed(function () use ($c, &$seen) {
    return $c->consume(function (Dq\DeliveryInterface $d) use (&$seen) {
        $seen[] = $d->body();
    }, ['max_seconds' => 0.5, 'timeout' => 5]);
});
echo "returned $n, handled ", implode(' ', $seen), ', after 0.5 s: ', var_export($elapsed >= 0.45 && $elapsed < 2.0, true), "\n";
unset($c);
echo $left('jobs'), "\n";

echo "-- max_memory_mb: checked after each message\n";
foreach (['big1', 'big2', 'big3'] as $body) {
    $producer->publish('', 'jobs', $body);
}
$c = $consumer('jobs');
$hog = [];
$limit = intdiv(memory_get_usage(true), 1 << 20) + 2;
$n = $c->consume(function (Dq\DeliveryInterface $d) use (&$hog) {
    $hog[] = str_repeat('x', 3 << 20);
}, ['max_memory_mb' => $limit]);
echo "returned $n\n";
$hog = [];
unset($c);
echo $left('jobs'), "\n";
$c = $consumer('jobs');
$c->consume(fn (Dq\DeliveryInterface $d) => null, ['max_messages' => 2]);
unset($c);

echo "-- a handler that throws: requeued once, rejected (dead-lettered) when it throws again; the loop goes on\n";
$producer->publish('', 'work', 'poison');
$producer->publish('', 'work', 'fine');
$c = $consumer('work');
$events = $errors = [];
$n = $c->consume(function (Dq\DeliveryInterface $d) use (&$events) {
    $events[] = $d->body() . ($d->redelivered() ? ' (redelivered)' : '');
    if ($d->body() === 'poison') {
        throw new RuntimeException('cannot handle ' . $d->body());
    }
}, ['max_messages' => 3, 'on_error' => function (Throwable $e, Dq\DeliveryInterface $d) use (&$errors) {
    $errors[] = get_class($e) . ': ' . $e->getMessage() . ' | ' . $d->body() . ' redelivered ' . var_export($d->redelivered(), true);
}]);
sort($events);
echo "returned $n: ", implode(', ', $events), "\n";
echo implode("\n", $errors), "\n";
unset($c);
echo $left('work'), "\n";
echo $drain('dead'), "\n";

echo "-- requeue_on_error false: rejected at the first failure\n";
$producer->publish('', 'work', 'bad');
$c = $consumer('work');
$n = $c->consume(function (Dq\DeliveryInterface $d) {
    throw new DomainException('bad input');
}, ['max_messages' => 1, 'requeue_on_error' => false, 'on_error' => function (Throwable $e) {
    echo 'on_error: ', $e->getMessage(), "\n";
}]);
unset($c);
echo "returned $n; ", $left('work'), "; ", $drain('dead'), "\n";

echo "-- without on_error: error_log() gets the exception and its trace\n";
$log = tempnam(sys_get_temp_dir(), 'dq-consume-log-');
ini_set('error_log', $log);
$producer->publish('', 'work', 'x');
$producer->publish('', 'work', 'y');
$c = $consumer('work');
$line = __LINE__ + 2;
$n = $c->consume(function (Dq\DeliveryInterface $d) {
    if ($d->body() === 'x') throw new RuntimeException('x failed');
}, ['max_messages' => 2, 'requeue_on_error' => false]);
unset($c);
ini_restore('error_log');
$logged = preg_replace('/^\[[^]]+\] /m', '', file_get_contents($log));
unlink($log);
echo "returned $n\n";
echo str_replace(__FILE__, 'FILE', explode("\n", $logged)[0]), "\n";
echo 'the line of the throw: ', var_export(str_contains($logged, __FILE__ . ":$line"), true),
    ', a stack trace: ', var_export(str_contains($logged, 'Stack trace:'), true), "\n";
echo $drain('dead'), "\n";

echo "-- a handler that settled the delivery itself: not acked again\n";
foreach (['acked', 'nacked', 'acked then threw'] as $body) {
    $producer->publish('', 'work', $body);
}
$producer->declareQueue('replies');
$producer->publish('', 'work', 'replied', ['reply_to' => 'replies', 'correlation_id' => 'c-1']);
$c = $consumer('work');
$n = $c->consume(function (Dq\DeliveryInterface $d) {
    match ($d->body()) {
        'acked' => $d->ack(),
        'nacked' => $d->nack(false),
        'acked then threw' => [$d->ack(), throw new LogicException('after the ack')],
        'replied' => $d->reply('pong'),
    };
}, ['max_messages' => 4, 'on_error' => function (Throwable $e) {
    echo 'on_error: ', $e->getMessage(), "\n";
}]);
unset($c);
echo "returned $n; ", $left('work'), "; ", $drain('dead'), "; ", $drain('replies'), "\n";

echo "-- on_error that throws: consume() throws it (the delivery was nacked first)\n";
$producer->publish('', 'work', 'stop here');
$producer->publish('', 'work', 'not reached');
$c = $consumer('work');
$seen = [];
try {
    $c->consume(function (Dq\DeliveryInterface $d) use (&$seen) {
        $seen[] = $d->body();
        throw new RuntimeException('handler failed');
    }, ['on_error' => function (Throwable $e) {
        throw new LogicException('give up', 0, $e);
    }]);
} catch (LogicException $e) {
    echo get_class($e), ': ', $e->getMessage(), ', previous: ', $e->getPrevious()->getMessage(), '; handled: ', implode(', ', $seen), "\n";
}
unset($c);
echo $left('work'), "\n";
echo $drain('work'), "\n";

echo "-- options\n";
$c = $consumer('jobs');
foreach ([
    ['max_mesages' => 1],
    ['maxSeconds' => 1],
    ['prefetch' => 5],
    ['max_messages' => 0],
    ['max_messages' => 1.5],
    ['max_seconds' => -1],
    ['max_seconds' => 'soon'],
    ['timeout' => 0],
    ['timeout' => 7200],
    ['max_memory_mb' => '128'],
    ['requeue_on_error' => 1],
    ['on_error' => 'no_such_function'],
] as $options) {
    try {
        $c->consume(fn () => null, $options);
        echo "accepted\n";
    } catch (Dq\InvalidArgumentException $e) {
        dq_show($e);
    }
}
try {
    $c->consume('no_such_function');
} catch (TypeError $e) {
    echo get_class($e), ': ', $e->getMessage(), "\n";
}
?>
--EXPECTF--
-- max_messages: acked as each handler returns
returned 3, handled j1 j2 j3
jobs: 2
-- max_seconds: the rest, then no wait beyond the limit (timeout 5 s notwithstanding)
returned 2, handled j4 j5, after 0.5 s: true
jobs: 0
-- max_memory_mb: checked after each message
returned 1
jobs: 2
-- a handler that throws: requeued once, rejected (dead-lettered) when it throws again; the loop goes on
returned 3: fine, poison, poison (redelivered)
RuntimeException: cannot handle poison | poison redelivered false
RuntimeException: cannot handle poison | poison redelivered true
work: 0
dead: poison (rejected)
-- requeue_on_error false: rejected at the first failure
on_error: bad input
returned 1; work: 0; dead: bad (rejected)
-- without on_error: error_log() gets the exception and its trace
returned 2
Dq\Consumer::consume(): the handler threw, and the message was rejected (dead-lettered if its queue has a dead-letter exchange, else dropped): requeue_on_error is false: RuntimeException: x failed in FILE:%d
the line of the throw: true, a stack trace: true
dead: x (rejected)
-- a handler that settled the delivery itself: not acked again
on_error: after the ack
returned 4; work: 0; dead: nacked (rejected); replies: pong
-- on_error that throws: consume() throws it (the delivery was nacked first)
LogicException: give up, previous: handler failed; handled: stop here
work: 2
work: not reached, stop here
-- options
Dq\InvalidArgumentException(2): Dq\Consumer::consume(): unknown option "max_mesages": did you mean "max_messages"? (options: timeout, max_messages, max_seconds, max_memory_mb, requeue_on_error, on_error)
Dq\InvalidArgumentException(2): Dq\Consumer::consume(): unknown option "maxSeconds": did you mean "max_seconds"? (options: timeout, max_messages, max_seconds, max_memory_mb, requeue_on_error, on_error)
Dq\InvalidArgumentException(2): Dq\Consumer::consume(): unknown option "prefetch" (options: timeout, max_messages, max_seconds, max_memory_mb, requeue_on_error, on_error)
Dq\InvalidArgumentException(2): Dq\Consumer::consume(): options['max_messages'] 0 is an int: expected a whole number from 1
Dq\InvalidArgumentException(2): Dq\Consumer::consume(): options['max_messages'] 1.5 is a float: expected a whole number from 1
Dq\InvalidArgumentException(2): Dq\Consumer::consume(): options['max_seconds'] -1 is an int: expected seconds, more than 0
Dq\InvalidArgumentException(2): Dq\Consumer::consume(): options['max_seconds'] "soon" is a string: expected seconds, more than 0
Dq\InvalidArgumentException(2): Dq\Consumer::consume(): options['timeout'] 0 is an int: expected seconds, more than 0 up to 3600
Dq\InvalidArgumentException(2): Dq\Consumer::consume(): options['timeout'] 7200 is an int: expected seconds, more than 0 up to 3600
Dq\InvalidArgumentException(2): Dq\Consumer::consume(): options['max_memory_mb'] "128" is a string: expected a whole number from 1
Dq\InvalidArgumentException(2): Dq\Consumer::consume(): options['requeue_on_error'] 1 is an int: expected true or false
Dq\InvalidArgumentException(2): Dq\Consumer::consume(): options['on_error'] "no_such_function" is a string: expected a callable (given the exception and the message)
TypeError: Invalid value given for argument `handler`.
