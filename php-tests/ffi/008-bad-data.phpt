--TEST--
DqFfi\Client::add refuses every bad topic, id, body, delay, fix_time and unknown key as dq.so does: same class, code and message
--EXTENSIONS--
ffi
--SKIPIF--
<?php require __DIR__ . '/inc.php'; dq_ffi_skipif(); ?>
--FILE--
<?php
require __DIR__ . '/inc.php';
$gw = new TestGateway(dq_test_prefix('ffi-bad-data'));
$gw->topic('orders');
// The calls of php-tests/008-bad-data.phpt, here with DqFfi\Client, then with Dq\Client in a dq.so process.
$code = <<<'PHP'
    $dq = new $Client(['prefix' => $prefix]);
    // An accepted message; every bad add below uses its id where the id itself is fine.
    var_dump($dq->add('orders', ['id' => 'keep', 'body' => ['v' => 'original'], 'delay' => 600]));
    $kept = $dq->get('orders', 'keep');

    function try_add($dq, string $what, string $topic, array $data): void
    {
        echo str_pad($what, 18), ' ';
        try {
            var_dump($dq->add($topic, $data));
        } catch (Throwable $e) {
            dq_show($e);
        }
    }

    echo "-- topic\n";
    try_add($dq, 'space', 'my orders', ['id' => 'keep']);
    try_add($dq, 'empty', '', ['id' => 'keep']);
    try_add($dq, '129 chars', str_repeat('t', 129), ['id' => 'keep']);
    try_add($dq, 'non-ascii', 'ordérs', ['id' => 'keep']);
    echo "-- id\n";
    try_add($dq, 'missing', 'orders', ['body' => 1, 'delay' => 5]);
    try_add($dq, 'null', 'orders', ['id' => null]);
    try_add($dq, 'empty', 'orders', ['id' => '']);
    try_add($dq, '129 bytes', 'orders', ['id' => str_repeat('k', 129)]);
    try_add($dq, '65 x 2 bytes', 'orders', ['id' => str_repeat('é', 65)]);
    try_add($dq, 'control char', 'orders', ['id' => "kee\x01p"]);
    try_add($dq, 'newline', 'orders', ['id' => "keep\n"]);
    try_add($dq, 'array', 'orders', ['id' => ['keep']]);
    try_add($dq, 'float', 'orders', ['id' => 1.5]);
    try_add($dq, 'bool', 'orders', ['id' => true]);
    try_add($dq, 'not UTF-8', 'orders', ['id' => "k\xffp"]);
    echo "-- body\n";
    try_add(new $Client(['prefix' => $prefix, 'body_limit' => 100]), 'over body_limit', 'orders', ['id' => 'keep', 'body' => str_repeat('x', 100)]);
    try_add($dq, 'over 1 MiB', 'orders', ['id' => 'keep', 'body' => str_repeat('x', 1024 * 1024)]);
    try_add($dq, 'not UTF-8', 'orders', ['id' => 'keep', 'body' => "caf\xe9"]);
    try_add($dq, 'nested not UTF-8', 'orders', ['id' => 'keep', 'body' => ['a' => ['b' => [1, "\xfe"]]]]);
    try_add($dq, 'NAN', 'orders', ['id' => 'keep', 'body' => ['x' => NAN]]);
    try_add($dq, 'INF', 'orders', ['id' => 'keep', 'body' => INF]);
    echo "-- delay\n";
    try_add($dq, 'string "5"', 'orders', ['id' => 'keep', 'delay' => '5']);
    try_add($dq, '-1', 'orders', ['id' => 'keep', 'delay' => -1]);
    try_add($dq, '-0.5', 'orders', ['id' => 'keep', 'delay' => -0.5]);
    try_add($dq, '31622401', 'orders', ['id' => 'keep', 'delay' => 31622401]);
    try_add($dq, 'NAN', 'orders', ['id' => 'keep', 'delay' => NAN]);
    try_add($dq, 'true', 'orders', ['id' => 'keep', 'delay' => true]);
    try_add($dq, 'array', 'orders', ['id' => 'keep', 'delay' => [5]]);
    echo "-- fix_time\n";
    try_add($dq, 'Feb 30', 'orders', ['id' => 'keep', 'fix_time' => '2026-02-30 00:00:00']);
    try_add($dq, 'tomorrow', 'orders', ['id' => 'keep', 'fix_time' => 'tomorrow']);
    try_add($dq, 'true', 'orders', ['id' => 'keep', 'fix_time' => true]);
    try_add($dq, 'empty', 'orders', ['id' => 'keep', 'fix_time' => '']);
    try_add($dq, 'ISO 8601', 'orders', ['id' => 'keep', 'fix_time' => '2026-12-01T10:00:00']);
    try_add($dq, '367 days ahead', 'orders', ['id' => 'keep', 'fix_time' => date('Y-m-d H:i:s', $far)]);
    try_add($dq, 'unix, 367 days', 'orders', ['id' => 'keep', 'fix_time' => $far]);
    try_add($dq, 'negative', 'orders', ['id' => 'keep', 'fix_time' => -1]);
    echo "-- both\n";
    try_add($dq, 'delay + fix_time', 'orders', ['id' => 'keep', 'delay' => 5, 'fix_time' => '2026-01-01 00:00:00']);
    echo "-- typos\n";
    foreach (['dealy', 'Delay', 'DELAY', 'fixtime', 'fix-time', 'fixTime', 'fix_tme', 'bdy', 'Body', 'ID', 'Id', 'delay_ms', 'due_at', 'run_at', 'data', 'message_id'] as $key) {
        try_add($dq, $key, 'orders', ['id' => 'keep', $key => 5]);
    }
    echo "-- not typos: refused too, so that nothing is dropped silently\n";
    try_add($dq, 'priority', 'orders', ['id' => 'keep', 'priority' => 3, 'delay' => 60]);
    try_add($dq, 'priority, topic', 'orders', ['id' => 'keep', 'priority' => 3, 'topic' => 'other', 'delay' => 60]);
    try_add($dq, 'a list', 'orders', ['keep', 60]);

    echo "-- the accepted message is untouched\n";
    $now = $dq->get('orders', 'keep');
    var_dump($now === $kept, $now['body']);
    echo json_encode($dq->stats('orders')), "\n";
    PHP;
// One time for both runs, so that they print the same.
dq_ffi_show_same(dq_ffi_and_ext($code, ['prefix' => $gw->prefix, 'far' => time() + 367 * 86400]));
?>
--EXPECTF--
bool(true)
-- topic
space              Dq\InvalidArgumentException(2): topic "my orders" is invalid: expected 1 to 128 characters of A-Z a-z 0-9 _ . : -
empty              Dq\InvalidArgumentException(2): topic "" is invalid: expected 1 to 128 characters of A-Z a-z 0-9 _ . : -
129 chars          Dq\InvalidArgumentException(2): topic "tttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt"... is invalid: expected 1 to 128 characters of A-Z a-z 0-9 _ . : -
non-ascii          Dq\InvalidArgumentException(2): topic "ordérs" is invalid: expected 1 to 128 characters of A-Z a-z 0-9 _ . : -
-- id
missing            Dq\InvalidArgumentException(2): data: id is missing: every message needs an "id" (a string of 1 to 128 bytes)
null               Dq\InvalidArgumentException(2): data: id is missing: every message needs an "id" (a string of 1 to 128 bytes)
empty              Dq\InvalidArgumentException(2): data: id is empty: expected 1 to 128 bytes
129 bytes          Dq\InvalidArgumentException(2): data: id "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"... is 129 bytes long: expected at most 128
65 x 2 bytes       Dq\InvalidArgumentException(2): data: id "ééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé" is 130 bytes long: expected at most 128
control char       Dq\InvalidArgumentException(2): data: id "kee\u{1}p" contains a control character
newline            Dq\InvalidArgumentException(2): data: id "keep\n" contains a control character
array              Dq\InvalidArgumentException(2): data: id ["keep"] is an array: expected a string of 1 to 128 bytes
float              Dq\InvalidArgumentException(2): data: id 1.5 is a float: expected a string of 1 to 128 bytes
bool               Dq\InvalidArgumentException(2): data: id true is a boolean: expected a string of 1 to 128 bytes
not UTF-8          Dq\InvalidArgumentException(2): data["id"]: string is not valid UTF-8
-- body
over body_limit    Dq\InvalidArgumentException(2): data: body is 102 bytes of JSON: the limit is 100 bytes
over 1 MiB         Dq\InvalidArgumentException(2): data: body is 1048578 bytes of JSON: the limit is 1048576 bytes
not UTF-8          Dq\InvalidArgumentException(2): data["body"]: string is not valid UTF-8
nested not UTF-8   Dq\InvalidArgumentException(2): data["body"]["a"]["b"][1]: string is not valid UTF-8
NAN                Dq\InvalidArgumentException(2): data["body"]["x"]: float NaN cannot be encoded as JSON
INF                Dq\InvalidArgumentException(2): data["body"]: float inf cannot be encoded as JSON
-- delay
string "5"         Dq\InvalidArgumentException(2): data: delay "5" is a string: expected a number of seconds from 0 to 31622400
-1                 Dq\InvalidArgumentException(2): data: delay -1 is out of range: expected seconds from 0 to 31622400 (366 days)
-0.5               Dq\InvalidArgumentException(2): data: delay -0.5 is out of range: expected seconds from 0 to 31622400 (366 days)
31622401           Dq\InvalidArgumentException(2): data: delay 31622401 is out of range: expected seconds from 0 to 31622400 (366 days)
NAN                Dq\InvalidArgumentException(2): data["delay"]: float NaN cannot be encoded as JSON
true               Dq\InvalidArgumentException(2): data: delay true is a boolean: expected a number of seconds from 0 to 31622400
array              Dq\InvalidArgumentException(2): data: delay [5] is an array: expected a number of seconds from 0 to 31622400
-- fix_time
Feb 30             Dq\InvalidArgumentException(2): data: fix_time "2026-02-30 00:00:00" is not a valid 'Y-m-d H:i:s' time (%s): expected e.g. "2026-01-31 23:59:00"
tomorrow           Dq\InvalidArgumentException(2): data: fix_time "tomorrow" is not a valid 'Y-m-d H:i:s' time (%s): expected e.g. "2026-01-31 23:59:00"
true               Dq\InvalidArgumentException(2): data: fix_time true is a boolean: expected 'Y-m-d H:i:s' or a unix time in seconds
empty              Dq\InvalidArgumentException(2): data: fix_time "" is not a valid 'Y-m-d H:i:s' time (%s): expected e.g. "2026-01-31 23:59:00"
ISO 8601           Dq\InvalidArgumentException(2): data: fix_time "2026-12-01T10:00:00" is not a valid 'Y-m-d H:i:s' time (%s): expected e.g. "2026-01-31 23:59:00"
367 days ahead     Dq\InvalidArgumentException(2): data: fix_time "%d-%d-%d %d:%d:%d" is more than 366 days ahead
unix, 367 days     Dq\InvalidArgumentException(2): data: fix_time %d is more than 366 days ahead
negative           Dq\InvalidArgumentException(2): data: fix_time -1 is negative: expected a unix time in seconds or 'Y-m-d H:i:s'
-- both
delay + fix_time   Dq\InvalidArgumentException(2): data: delay 5 and fix_time "2026-01-01 00:00:00" are both given: give one of them
-- typos
dealy              Dq\InvalidArgumentException(2): data: unknown field "dealy": did you mean "delay"? (fields: id, body, delay, fix_time)
Delay              Dq\InvalidArgumentException(2): data: unknown field "Delay": did you mean "delay"? (fields: id, body, delay, fix_time)
DELAY              Dq\InvalidArgumentException(2): data: unknown field "DELAY": did you mean "delay"? (fields: id, body, delay, fix_time)
fixtime            Dq\InvalidArgumentException(2): data: unknown field "fixtime": did you mean "fix_time"? (fields: id, body, delay, fix_time)
fix-time           Dq\InvalidArgumentException(2): data: unknown field "fix-time": did you mean "fix_time"? (fields: id, body, delay, fix_time)
fixTime            Dq\InvalidArgumentException(2): data: unknown field "fixTime": did you mean "fix_time"? (fields: id, body, delay, fix_time)
fix_tme            Dq\InvalidArgumentException(2): data: unknown field "fix_tme": did you mean "fix_time"? (fields: id, body, delay, fix_time)
bdy                Dq\InvalidArgumentException(2): data: unknown field "bdy": did you mean "body"? (fields: id, body, delay, fix_time)
Body               Dq\InvalidArgumentException(2): data: unknown field "Body": did you mean "body"? (fields: id, body, delay, fix_time)
ID                 Dq\InvalidArgumentException(2): data: unknown field "ID": did you mean "id"? (fields: id, body, delay, fix_time)
Id                 Dq\InvalidArgumentException(2): data: unknown field "Id": did you mean "id"? (fields: id, body, delay, fix_time)
delay_ms           Dq\InvalidArgumentException(2): data: unknown field "delay_ms": did you mean "delay"? (fields: id, body, delay, fix_time)
due_at             Dq\InvalidArgumentException(2): data: unknown field "due_at": did you mean "fix_time"? (fields: id, body, delay, fix_time)
run_at             Dq\InvalidArgumentException(2): data: unknown field "run_at": did you mean "fix_time"? (fields: id, body, delay, fix_time)
data               Dq\InvalidArgumentException(2): data: unknown field "data": did you mean "body"? (fields: id, body, delay, fix_time)
message_id         Dq\InvalidArgumentException(2): data: unknown field "message_id": did you mean "id"? (fields: id, body, delay, fix_time)
-- not typos: refused too, so that nothing is dropped silently
priority           Dq\InvalidArgumentException(2): data: unknown field "priority" (fields: id, body, delay, fix_time)
priority, topic    Dq\InvalidArgumentException(2): data: unknown fields "priority", "topic" (fields: id, body, delay, fix_time)
a list             Dq\InvalidArgumentException(2): data: unknown fields "0", "1" (fields: id, body, delay, fix_time)
-- the accepted message is untouched
bool(true)
array(1) {
  ["v"]=>
  string(8) "original"
}
{"delayed":1,"ready":0,"inflight":0,"dead":0}
== the extension printed the same
