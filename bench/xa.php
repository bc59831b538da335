<?php
// make bench: transfers between two databases, Dq\Xa against the hand-written PDO XA it replaces
// (XA START / END / PREPARE / COMMIT sent from PHP, one database after the other, no decision
// recorded), and that same PDO XA with a decision row written between prepare and commit (what
// crash safety costs when done by hand). Each variant runs for a fixed time in 1 and in 8
// processes, in turns, over databases of the benchmark's own (dropped afterwards).
// Usage: php xa.php [seconds per run] [rounds]
declare(strict_types=1);

$seconds = (float) ($argv[1] ?? 3);
$rounds = (int) ($argv[2] ?? 2);
const ACCOUNTS = 1000;
$prefix = 'dqbench_' . getmypid();
$server = new PDO('mysql:host=127.0.0.1;port=3306', 'root', '', [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]);
$names = ['order' => "{$prefix}_order", 'finance' => "{$prefix}_finance", 'log' => "{$prefix}_log"];
$owner = getmypid();
register_shutdown_function(function () use ($names, $owner): void {
    if (getmypid() !== $owner) {
        return;
    }
    // A connection of its own: the forked children closed the one they inherited.
    $server = new PDO('mysql:host=127.0.0.1;port=3306', 'root', '', [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]);
    foreach ($names as $name) {
        $server->exec("DROP DATABASE IF EXISTS `$name`");
    }
});
foreach ($names as $name) {
    $server->exec("CREATE DATABASE `$name`");
}
$server->exec("CREATE TABLE `{$names['order']}`.t_user_orders (id BIGINT AUTO_INCREMENT PRIMARY KEY, username VARCHAR(64) NOT NULL, money DECIMAL(12,2) NOT NULL) ENGINE=InnoDB");
$server->exec("CREATE TABLE `{$names['finance']}`.t_user_account (username VARCHAR(64) PRIMARY KEY, money DECIMAL(12,2) NOT NULL) ENGINE=InnoDB");
// The hand-written variant's decision table (Dq\Xa makes its own, dq_xa, in the same database).
$server->exec("CREATE TABLE `{$names['log']}`.decision (id VARCHAR(64) PRIMARY KEY, decision VARCHAR(8) NOT NULL) ENGINE=InnoDB");
$rows = implode(',', array_map(fn ($i) => "('u$i', 1000000)", range(1, ACCOUNTS)));
$server->exec("INSERT INTO `{$names['finance']}`.t_user_account VALUES $rows");
$databases = ['order' => "mysql://root@127.0.0.1:3306/{$names['order']}", 'finance' => "mysql://root@127.0.0.1:3306/{$names['finance']}"];
$options = ['log' => "mysql://root@127.0.0.1:3306/{$names['log']}"];

function pdo(string $database): PDO
{
    return new PDO("mysql:host=127.0.0.1;port=3306;dbname=$database", 'root', '', [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]);
}

/** One transfer per call; connections opened once per process, as dq keeps its own. */
function variant(string $name, array $names, array $databases, array $options): Closure
{
    if ($name === 'dq' || $name === 'dq-apart') {
        if ($name === 'dq-apart') {
            // The log reached as localhost: another login than the branches', so the decision
            // is an INSERT of its own rather than a row in a branch.
            $options = ['log' => str_replace('127.0.0.1', 'localhost', $options['log'])];
        }
        return function (string $user) use ($databases, $options): bool {
            try {
                $xa = new Dq\Xa($databases, $options);
                $xa->execute('order', 'INSERT INTO t_user_orders (username, money) VALUES (?, ?)', [$user, 1]);
                $xa->execute('finance', 'UPDATE t_user_account SET money = money - ? WHERE username = ?', [1, $user]);
                $xa->commit();
                return true;
            } catch (Dq\XaException $e) {
                return false;   // a deadlock victim, rolled back: the caller retries
            }
        };
    }
    $order = pdo($names['order']);
    $finance = pdo($names['finance']);
    $log = $name === 'pdo+log' ? pdo($names['log']) : null;
    $insert = $order->prepare('INSERT INTO t_user_orders (username, money) VALUES (?, ?)');
    $debit = $finance->prepare('UPDATE t_user_account SET money = money - ? WHERE username = ?');
    $decide = $log?->prepare('INSERT INTO decision VALUES (?, ?)');
    return function (string $user) use ($order, $finance, $log, $insert, $debit, $decide): bool {
        // One global id, a branch qualifier per database (both may be on one server).
        $gtrid = 'dqb' . bin2hex(random_bytes(8));
        try {
        [$a, $b] = ["'$gtrid','order'", "'$gtrid','finance'"];
        $order->exec("XA START $a");
        $finance->exec("XA START $b");
        $insert->execute([$user, 1]);
        $debit->execute([1, $user]);
        $order->exec("XA END $a");
        $finance->exec("XA END $b");
        $order->exec("XA PREPARE $a");
        $finance->exec("XA PREPARE $b");
        $decide?->execute([$gtrid, 'commit']);
        $order->exec("XA COMMIT $a");
        $finance->exec("XA COMMIT $b");
        return true;
        } catch (PDOException $e) {
            // A deadlock victim: end both branches as the hand-written code must.
            foreach ([[$order, $a], [$finance, $b]] as [$pdo, $xid]) {
                try {
                    $pdo->exec("XA END $xid");
                } catch (PDOException) {
                }
                try {
                    $pdo->exec("XA ROLLBACK $xid");
                } catch (PDOException) {
                }
            }
            return false;
        }
    };
}

/** Transfers per second of $variant in $procs processes for $seconds. */
function measure(string $variant, int $procs, float $seconds, array $names, array $databases, array $options): float
{
    $pids = [];
    $files = [];
    $start = microtime(true) + 0.3;
    for ($p = 0; $p < $procs; $p++) {
        $files[$p] = tempnam(sys_get_temp_dir(), 'dqxa');
        $pid = pcntl_fork();
        if ($pid === 0) {
            $transfer = variant($variant, $names, $databases, $options);
            $transfer('u1');   // connections open before the clock starts
            while (microtime(true) < $start) {
                usleep(1000);
            }
            [$n, $failed] = [0, 0];
            $end = $start + $seconds;
            while (microtime(true) < $end) {
                if ($transfer('u' . random_int(1, ACCOUNTS))) {
                    $n++;
                } else {
                    $failed++;
                }
            }
            file_put_contents($files[$p], "$n $failed");
            exit(0);
        }
        $pids[] = $pid;
    }
    foreach ($pids as $pid) {
        pcntl_waitpid($pid, $status);
    }
    $total = 0;
    foreach ($files as $file) {
        [$n, $failed] = array_map('intval', explode(' ', (string) file_get_contents($file)) + [0, 0]);
        $total += $n;
        $GLOBALS['failed'][$variant] = ($GLOBALS['failed'][$variant] ?? 0) + $failed;
        unlink($file);
    }
    return $total / $seconds;
}

$variants = ['pdo' => 'PDO XA by hand', 'pdo+log' => 'PDO XA + decision row', 'dq' => 'Dq\Xa', 'dq-apart' => 'Dq\Xa, log apart'];
foreach ([1, 8] as $procs) {
    $best = array_fill_keys(array_keys($variants), 0.0);
    for ($r = 0; $r < $rounds; $r++) {
        foreach (array_keys($variants) as $v) {
            $best[$v] = max($best[$v], measure($v, $procs, $seconds, $names, $databases, $options));
        }
    }
    printf("  %d process%s:\n", $procs, $procs === 1 ? '' : 'es');
    foreach ($variants as $v => $label) {
        printf("    %-24s %8.0f transfers/s%s\n", $label, $best[$v],
            empty($GLOBALS['failed'][$v]) ? '' : " ({$GLOBALS['failed'][$v]} deadlock victims retried)");
    }
    $GLOBALS['failed'] = [];
    $target = $procs === 1 ? 1.0 : 1.5;
    printf("    Dq\\Xa / PDO XA by hand     = %.2fx  (target >= %.1fx; Dq\\Xa logs its decision, the hand-written one does not)\n", $best['dq'] / $best['pdo'], $target);
    printf("    decision row by hand costs %.0f us per transfer (PDO XA + row / PDO XA = %.2fx)\n",
        (1 / $best['pdo+log'] - 1 / $best['pdo']) * 1e6 * $procs, $best['pdo+log'] / $best['pdo']);
    printf("    Dq\\Xa's decision in a branch / as an INSERT apart = %.2fx\n", $best['dq'] / $best['dq-apart']);
}
$server = new PDO('mysql:host=127.0.0.1;port=3306', 'root', '', [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]);
$left = (int) $server->query("SELECT COUNT(*) FROM `{$names['order']}`.t_user_orders")->fetchColumn();
$prepared = array_filter($server->query('XA RECOVER')->fetchAll(PDO::FETCH_NUM),
    fn ($r) => str_starts_with($r[3], 'dqb') || str_ends_with($r[3], 'order') || str_ends_with($r[3], 'finance'));
printf("  orders written: %d, prepared branches left behind: %d\n", $left, count($prepared));
