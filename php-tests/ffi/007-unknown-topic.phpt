--TEST--
DqFfi\Client::add to a topic that is not registered, or disabled: Dq\UnknownTopicException (code 3) naming the topic and the fix
--EXTENSIONS--
ffi
--SKIPIF--
<?php require __DIR__ . '/inc.php'; dq_ffi_skipif(); ?>
--FILE--
<?php
require __DIR__ . '/inc.php';
$gw = new TestGateway(dq_test_prefix('ffi-unknown-topic'));
$gw->topic('orders');
$dq = new DqFfi\Client(['prefix' => $gw->prefix]);

try {
    $line = __LINE__ + 1;
    $dq->add('payments', ['id' => 'p-1', 'delay' => 10]);
} catch (Dq\UnknownTopicException $e) {
    dq_show($e);
    var_dump($e instanceof Dq\Exception, $e instanceof RuntimeException, $e->getCode() === 3);
    var_dump(str_contains($e->getMessage(), $gw->prefix), $e->getLine() === $line, $e->getFile() === __FILE__);
}
try {
    $dq->addMany('payments', [['id' => 'p-1'], ['id' => 'p-2']]);
} catch (Dq\Exception $e) {
    dq_show($e);
}
var_dump($dq->get('payments', 'p-1'), $dq->stats('payments')['delayed']);

// Registered under another prefix is not registered here.
try {
    (new DqFfi\Client(['prefix' => $gw->prefix . '-other']))->add('orders', ['id' => 'o-1']);
} catch (Dq\Exception $e) {
    dq_show($e);
}

// Registered right after the refusal: works at once (unknown topics are not cached).
$gw->topic('payments');
var_dump($dq->add('payments', ['id' => 'p-1', 'delay' => 10]));

// A disabled topic refuses new messages; those already accepted stay (also after a
// topic is disabled, or deleted, once dq's 1 s cache of it has expired).
$gw->topic('closed', ['status' => 'disabled']);
try {
    $dq->add('closed', ['id' => 'c-1']);
} catch (Dq\Exception $e) {
    dq_show($e);
}
var_dump($dq->add('orders', ['id' => 'o-1', 'delay' => 60]));
var_dump($dq->add('payments', ['id' => 'p-2', 'delay' => 60]));
$gw->topic('orders', ['status' => 'disabled']);
// A topic removed with DELETE /v1/topics/{topic} is unknown again.
var_dump($gw->request('DELETE', '/v1/topics/payments')[0]);
// dq caches a topic for up to 1 s: wait until each refuses a probe.
foreach (['orders', 'payments'] as $topic) {
    $refused = dq_ffi_poll(function () use ($dq, $topic) {
        try {
            $dq->add($topic, ['id' => 'probe', 'delay' => 60]);
            return null;
        } catch (Dq\UnknownTopicException) {
            return true;
        }
    });
    $dq->del($topic, 'probe');
    echo "$topic refused within 5 s: ", var_export($refused, true), "\n";
}
try {
    $dq->add('orders', ['id' => 'o-2', 'delay' => 60]);
} catch (Dq\Exception $e) {
    dq_show($e);
}
var_dump($dq->get('orders', 'o-1')['state'], $dq->get('orders', 'o-2'));
// A paused topic still takes messages.
$gw->topic('paused', ['status' => 'paused']);
var_dump($dq->add('paused', ['id' => 'x-1', 'delay' => 60]));
// The deleted topic refuses new messages; the one it took stays.
try {
    $dq->add('payments', ['id' => 'p-3']);
} catch (Dq\Exception $e) {
    dq_show($e);
}
var_dump($dq->get('payments', 'p-2')['state']);
?>
--EXPECTF--
Dq\UnknownTopicException(3): topic "payments" is not registered under prefix "%s" on redis://127.0.0.1:6379/0: register it with PUT /v1/topics/payments on dq-gateway%s
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
Dq\UnknownTopicException(3): topic "payments" is not registered %sPUT /v1/topics/payments%s
NULL
int(0)
Dq\UnknownTopicException(3): topic "orders" cannot be checked: the topic registry (%s-other:topics) is missing on redis://127.0.0.1:6379/0: %sno dq-gateway with prefix "%s-other" is running%sPUT /v1/topics/orders%s
bool(true)
Dq\UnknownTopicException(3): topic "closed" is disabled: %sPUT /v1/topics/closed%s
bool(true)
bool(true)
int(204)
orders refused within 5 s: true
payments refused within 5 s: true
Dq\UnknownTopicException(3): topic "orders" is disabled: %s
string(7) "delayed"
NULL
bool(true)
Dq\UnknownTopicException(3): topic "payments" is not registered %sPUT /v1/topics/payments%s
string(7) "delayed"
