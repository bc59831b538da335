--TEST--
Subscriptions: examples/transfer's endpoint.php behind its gateway-subscription.toml (the relay and the subscription in one gateway, no worker): 20 transfers credited exactly once each in bank2, also one whose first attempt failed (500, nothing applied) and one whose first answer was lost after the commit (500, retried: a copy), and 10 copies published again; a message that is not a credit is a dead letter at once; a bad signature writes nothing
--EXTENSIONS--
dq
pdo_mysql
pcntl
posix
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
require __DIR__ . '/inc/subscription.inc';
$root = dq_root();
$example = "$root/examples/transfer";
$dbs = new TestDatabases(['bank1', 'bank2']);
$vhost = new TestVhost('sub-transfer');
$prefix = dq_test_prefix('sub-transfer');
$dir = sys_get_temp_dir() . "/$prefix";
mkdir($dir);
register_shutdown_function(function () use ($dir): void {
    array_map('unlink', glob("$dir/*"));
    @rmdir($dir);
});

// The example's tables, as run.sh makes them.
$schema = file_get_contents("$example/schema.sql");
foreach (['bank1' => '/-- db_bank1\n(.*)-- db_bank2/s', 'bank2' => '/-- db_bank2\n(.*)$/s'] as $bank => $part) {
    preg_match($part, $schema, $m);
    $dbs->pdo($bank)->exec($m[1]);
}
$dbs->pdo('bank1')->exec("INSERT INTO account VALUES ('alice', 1000.00)");

// The endpoint, behind failures of our making around it: the first attempt at FAIL_BEFORE
// answers 500 before endpoint.php runs (nothing applied); the first attempt at FAIL_AFTER runs
// endpoint.php (credited, committed) and then answers 500, as if the answer were lost.
file_put_contents("$dir/router.php", <<<'PHP'
    <?php
    $id = $_SERVER['HTTP_X_DQ_MESSAGE_ID'] ?? '-';
    $attempt = (int) ($_SERVER['HTTP_X_DQ_ATTEMPT'] ?? 0);
    $log = fn (int $status, string $what) => file_put_contents(getenv('ROUTER_LOG'), "$id $attempt $status $what\n", FILE_APPEND | LOCK_EX);
    if ($id === getenv('FAIL_BEFORE') && $attempt === 1) {
        $log(500, 'failed before');
        http_response_code(500);
        return;
    }
    ob_start();
    require getenv('ENDPOINT');
    $answer = json_decode((string) ob_get_contents(), true);
    $what = isset($answer['applied']) ? ($answer['applied'] ? 'applied' : 'copy') : ($answer['error'] ?? '?');
    if ($id === getenv('FAIL_AFTER') && $attempt === 1) {
        ob_end_clean();
        $log(500, "$what, then failed");
        http_response_code(500);
        return;
    }
    ob_end_flush();
    $log(http_response_code(), $what);
    PHP);
$ids = [];
for ($i = 1; $i <= 20; $i++) {
    $ids[$i] = sprintf('00000000-0000-4000-8000-%012d', $i);
}
$endpoint = new TestEndpoint("$dir/router.php", [
    'ENDPOINT' => "$example/endpoint.php", 'ROUTER_LOG' => "$dir/router.log", 'FAIL_BEFORE' => $ids[3], 'FAIL_AFTER' => $ids[5],
    'DQ_TRANSFER_BANK2' => $dbs->url('bank2'), 'DQ_TRANSFER_SECRET' => 'change-me', 'PHP_CLI_SERVER_WORKERS' => '4',
], ['mysqlnd', 'pdo', 'pdo_mysql']);

// The example's gateway configuration with this test's databases, endpoint and a short ladder
// (DQ_AMQP and DQ_PREFIX give the vhost and the prefix).
$toml = strtr(file_get_contents("$example/gateway-subscription.toml"), [
    'mysql://root@127.0.0.1:3306/db_bank1' => $dbs->url('bank1'),
    'mysql://root@127.0.0.1:3306/db_bank2' => $dbs->url('bank2'),
    'http://127.0.0.1:8002' => $endpoint->url,
]);
$toml = preg_replace(['/^retry = .*$/m', '/^max_attempts = .*$/m'], ['retry = [0.2, 0.2]', 'max_attempts = 3'], $toml, -1, $replaced);
echo "ladder replaced: $replaced\n";
file_put_contents("$dir/gateway.toml", $toml);
exec(escapeshellarg("$root/build/dq-gateway") . ' --config ' . escapeshellarg("$dir/gateway.toml") . ' migrate 2>&1', $out, $status);
echo "migrate: exit $status\n";
$env = ['DQ_TRANSFER_AMQP' => $vhost->url(), 'PATH' => getenv('PATH') ?: '/usr/bin:/bin'];
$topology = proc_open(dq_php_command(["$example/topology.php"], [], []), [['file', '/dev/null', 'r'], ['pipe', 'w'], ['file', '/dev/null', 'w']], $pipes, null, $env);
echo stream_get_contents($pipes[1]);
proc_close($topology);
$gateway = dq_subscription_gateway($prefix, $vhost->url(), $toml);
var_dump(dq_eventually(fn () => dq_consumed_queues($vhost) === ['transfer.credit'], 15));

/** What the endpoint answered: "id attempt status what" lines. */
$answers = fn (): array => file("$dir/router.log", FILE_IGNORE_NEW_LINES) ?: [];
$count = fn (string $what): int => count(array_filter($answers(), fn ($line) => str_contains($line, " $what")));
$bank2 = $dbs->pdo('bank2');
$credits = fn (): array => $bank2->query('SELECT transfer_id, COUNT(*) AS n, MIN(to_account) AS to_account, SUM(amount) AS amount FROM credit GROUP BY transfer_id ORDER BY transfer_id')->fetchAll(PDO::FETCH_ASSOC);

echo "-- a request that is not signed with the secret\n";
$context = stream_context_create(['http' => ['method' => 'POST', 'header' => "X-Dq-Message-Id: {$ids[1]}\r\nX-Dq-Signature: sha256=00\r\nContent-Type: application/json",
    'content' => json_encode(['transfer' => $ids[1], 'from' => 'alice', 'to' => 'mallory', 'amount' => '999.00']), 'ignore_errors' => true]]);
$said = file_get_contents("$endpoint->url/dq/credit", false, $context);
echo $http_response_header[0], ' ', $said, 'written: ', count($credits()), "\n";

echo "-- 20 transfers through the outbox, the relay and the subscription\n";
require_once "$example/bootstrap.php";
$transfer = new app\service\Transfer($dbs->pdo('bank1'));
$payees = ['frank', 'grace', 'heidi', 'ivan'];
$sent = [];
foreach ($ids as $i => $id) {
    $sent[$id] = [$payees[$i % 4], sprintf('%d.%02d', $i, $i)];
    $result = $transfer->send('alice', $sent[$id][0], $sent[$id][1], $id);
    if ($result['state'] !== 'sent') {
        echo "transfer $i: ", json_encode($result), "\n";
    }
}
var_dump(dq_eventually(fn () => count($credits()) === 20 && $count('applied') === 20 && $count('copy') === 1, 20));
$right = true;
foreach ($credits() as $row) {
    $right = $right && (int) $row['n'] === 1 && [$row['to_account'], $row['amount']] === $sent[$row['transfer_id']];
}
echo 'credited: ', count($credits()), ' transfers, each once to the right payee for the right amount: ', var_export($right, true), "\n";
foreach ([3 => 'failed before the work', 5 => 'failed after the commit'] as $i => $what) {
    $lines = array_values(array_filter($answers(), fn ($line) => str_starts_with($line, "{$ids[$i]} ")));
    echo "transfer $i, $what: ", implode('; ', array_map(fn ($line) => substr($line, strlen($ids[$i]) + 1), $lines)), "\n";
}

echo "-- 10 copies: transfers 11 to 15 published twice more at once, as a relay that died after the confirm would\n";
$producer = new Dq\Producer(['amqp' => $vhost->url()]);
$copies = [];
foreach ($dbs->pdo('bank1')->query("SELECT message_id, body FROM dq_outbox WHERE message_id IN ('{$ids[11]}', '{$ids[12]}', '{$ids[13]}', '{$ids[14]}', '{$ids[15]}')") as $row) {
    for ($n = 0; $n < 2; $n++) {
        $copies[] = ['routing_key' => 'transfer.credit', 'body' => $row['body'], 'properties' => ['message_id' => $row['message_id'], 'content_type' => 'application/json']];
    }
}
echo 'published: ', $producer->publishBatch('transfers', $copies), "\n";
var_dump(dq_eventually(fn () => $count('copy') === 11, 15));
echo 'applied: ', $count('applied'), ', copies skipped: ', $count('copy'), '; credit rows: ', array_sum(array_column($credits(), 'n')),
    ', inbox claims: ', $bank2->query('SELECT COUNT(*) FROM dq_inbox')->fetchColumn(), "\n";
echo 'bank1 alice: ', $dbs->pdo('bank1')->query("SELECT balance FROM account WHERE id = 'alice'")->fetchColumn(),
    ', bank2 total: ', $bank2->query('SELECT SUM(balance) FROM account')->fetchColumn(), "\n";

echo "-- a message that is not a credit: a dead letter at once\n";
$producer->publish('transfers', 'transfer.credit', 'not json', ['message_id' => 'junk-1']);
$dead = new Dq\Consumer("$prefix.dead.transfer-credit", ['amqp' => $vhost->url()]);
$letter = $dead->next(10.0);
$headers = $letter?->properties()['headers'] ?? [];
printf("<prefix>.dead.transfer-credit: %s (%s), x-dq-attempts %s, x-dq-last-status %s\n", $letter?->body(), $letter?->properties()['message_id'], $headers['x-dq-attempts'] ?? '-', $headers['x-dq-last-status'] ?? '-');
$letter?->ack();
echo 'the endpoint said: ', implode('', array_filter($answers(), fn ($line) => str_starts_with($line, 'junk-1 '))), "\n";

echo "-- nothing left over\n";
$left = fn (): string => str_replace($prefix, '<prefix>', json_encode(array_map(fn ($q) => $q['messages'],
    array_intersect_key(dq_list_queues($vhost), array_flip(['transfer.credit', 'transfer.credit.failed', "$prefix.dead.transfer-credit"])))));
dq_eventually(fn () => $left() === '{"<prefix>.dead.transfer-credit":"0","transfer.credit":"0","transfer.credit.failed":"0"}', 5);
echo 'queues: ', $left(), "\n";
echo 'unsent outbox rows: ', $dbs->pdo('bank1')->query('SELECT COUNT(*) FROM dq_outbox WHERE sent_at IS NULL')->fetchColumn(), "\n";
$gateway->stop();
$endpoint->stop();
?>
--EXPECTF--
ladder replaced: 2
migrate: exit 0
declared: exchange transfers, queues transfer.credit and transfer.credit.failed
bool(true)
-- a request that is not signed with the secret
HTTP/1.1 401 Unauthorized {"error":"X-Dq-Signature does not match the body: not from the gateway, or another secret"}
written: 0
-- 20 transfers through the outbox, the relay and the subscription
bool(true)
credited: 20 transfers, each once to the right payee for the right amount: true
transfer 3, failed before the work: 1 500 failed before; 2 200 applied
transfer 5, failed after the commit: 1 500 applied, then failed; 2 200 copy
-- 10 copies: transfers 11 to 15 published twice more at once, as a relay that died after the confirm would
published: 10
bool(true)
applied: 20, copies skipped: 11; credit rows: 20, inbox claims: 20
bank1 alice: 787.90, bank2 total: 212.10
-- a message that is not a credit: a dead letter at once
<prefix>.dead.transfer-credit: not json (junk-1), x-dq-attempts 1, x-dq-last-status 410
the endpoint said: junk-1 1 410 message junk-1: the body is not JSON: Syntax error
-- nothing left over
queues: {"<prefix>.dead.transfer-credit":"0","transfer.credit":"0","transfer.credit.failed":"0"}
unsent outbox rows: 0
