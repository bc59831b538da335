<?php
// For PHP-only setups (no dq-gateway running its xa worker): finishes the transactions a crash
// left in doubt. Run it from cron every minute:
//   * * * * * php -d extension=dq.so /path/to/examples/xa/recover.php
// A prepared branch whose decision is logged gets it; one without a decision (its PHP process
// died before deciding) is rolled back once it is older than 60 s.
declare(strict_types=1);

$resolved = Dq\Xa::recover([
    'order' => getenv('DQ_XA_ORDER') ?: 'mysql://root@127.0.0.1:3306/db_order',
    'finance' => getenv('DQ_XA_FINANCE') ?: 'mysql://root@127.0.0.1:3306/db_finance',
], ['older_than' => 60]);
foreach ($resolved as $branch) {
    printf("%s %s on %s: %s%s\n", $branch['id'], $branch['database'], $branch['server'], $branch['action'],
        $branch['error'] === null ? '' : " ({$branch['error']})");
}
