<?php
// A merchant's payment-notify endpoint, for PHP's built-in server:
//   DQ_LADDER_SECRET=... DQ_LADDER_LOG=/tmp/sink.log php -S 127.0.0.1:9000 examples/ladder/sink.php
// It checks dq's signature, answers 503 to the first DQ_LADDER_FAILS (3) calls for each message
// id (the merchant's database is "down") and 200 afterwards, and logs one line per call:
//   <unix time with ms> <id> attempt=<X-Dq-Attempt> signature=ok|BAD answered=<status>

declare(strict_types=1);

$secret = getenv('DQ_LADDER_SECRET') ?: 'ladder-secret';
$log = getenv('DQ_LADDER_LOG') ?: sys_get_temp_dir() . '/dq-ladder-sink.log';
$fails = (int) (getenv('DQ_LADDER_FAILS') ?: 3);

$now = microtime(true);
$raw = (string) file_get_contents('php://input');       // sign over the raw body, before decoding
$signed = 'sha256=' . hash_hmac('sha256', $raw, $secret);
$signatureOk = hash_equals($signed, $_SERVER['HTTP_X_DQ_SIGNATURE'] ?? '');
$notification = json_decode($raw, true);                 // {"topic","id","body","attempt","due_at"}
$id = (string) ($notification['id'] ?? $_SERVER['HTTP_X_DQ_ID'] ?? '-');
$attempt = $_SERVER['HTTP_X_DQ_ATTEMPT'] ?? '-';

if (!$signatureOk) {
    $status = 401;                                       // not from dq: refuse, do nothing
} else {
    // Calls so far for this id (the built-in server runs one request at a time).
    $seen = 0;
    foreach (is_file($log) ? file($log) : [] as $line) {
        $seen += (int) str_contains($line, " $id attempt=");
    }
    // A real merchant would mark the order paid here, idempotently: at least once means the
    // same notification may come again.
    $status = $seen < $fails ? 503 : 200;
}

file_put_contents($log, sprintf("%.3f %s attempt=%s signature=%s answered=%d\n",
    $now, $id, $attempt, $signatureOk ? 'ok' : 'BAD', $status), FILE_APPEND | LOCK_EX);
http_response_code($status);
header('Content-Type: text/plain');
echo $status === 200 ? "success\n" : "try again later\n";
