<?php
// The credit service as an HTTP endpoint, for dq-gateway's subscription "transfer-credit"
// (gateway-subscription.toml): the gateway consumes "transfer.credit" and POSTs each message
// here, in place of worker.php. Plain PHP, for PHP's built-in server or any FPM front:
//   DQ_TRANSFER_SECRET=... php -d extension=dq.so -S 127.0.0.1:8002 examples/transfer/endpoint.php
// Databases: DQ_TRANSFER_BANK2 (mysql:// URL, default db_bank2 on 127.0.0.1).
//
// The request: the message's body as the relay published it, its message_id (the transfer id)
// in X-Dq-Message-Id, X-Dq-Signature: sha256=<HMAC-SHA256 of the body> with the secret. The
// answer: 200 once bank2 committed the credit (or had committed it before: a copy), and the
// gateway acks the message; 410 for a message that is not a credit, which the gateway gives up
// at once to its dead-letter queue; 401 (a request not signed with the secret) and 503 (bank2
// failed) leave nothing written, and the gateway asks again on its retry ladder.
declare(strict_types=1);

use app\service\BadMessage;
use app\service\Credit;
use app\service\Database;

// 500 until the credit is committed: with display_errors on, PHP answers a fatal error (an
// uncaught Error) with 200, which the gateway would take for "credited" and ack.
http_response_code(500);
$config = require __DIR__ . '/bootstrap.php';
header('Content-Type: application/json');
$body = (string) file_get_contents('php://input');
$signature = $_SERVER['HTTP_X_DQ_SIGNATURE'] ?? '';
if ($_SERVER['REQUEST_METHOD'] !== 'POST') {
    http_response_code(405);
    echo json_encode(['error' => 'POST the credit message here (dq-gateway does)']), "\n";
} elseif ($config['secret'] !== '' && !hash_equals('sha256=' . hash_hmac('sha256', $body, $config['secret']), $signature)) {
    http_response_code(401);
    echo json_encode(['error' => 'X-Dq-Signature does not match the body: not from the gateway, or another secret']), "\n";
} else {
    try {
        $message = Credit::read($_SERVER['HTTP_X_DQ_MESSAGE_ID'] ?? '', $body);
        $applied = (new Credit(Database::connect($config['bank2'])))->apply($message['transfer'], $message['to'], $message['amount']);
        http_response_code(200);
        echo json_encode(['applied' => $applied] + $message), "\n";
    } catch (BadMessage $e) {
        http_response_code(410);   // it would fail every time: to the dead letters, for a person
        echo json_encode(['error' => $e->getMessage()]), "\n";
    } catch (PDOException $e) {
        http_response_code(503);   // bank2's trouble, not the message's: nothing applied, ask again
        error_log('credit: bank2: ' . $e->getMessage());
        echo json_encode(['error' => 'bank2 is not available']), "\n";
    }
}
