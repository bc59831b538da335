#!/usr/bin/env bash
# Creates the example's databases, runs a few payments and shows the balances:
#   bash examples/xa/run.sh            (after make build; MariaDB on 127.0.0.1:3306, root)
# DQ_XA_PREFIX names the databases (<prefix>order, <prefix>finance; default db_) and DQ_XA_LOG
# the decision log's URL (default: dq.mysql's default, mysql://root@127.0.0.1:3306/dq).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
prefix=${DQ_XA_PREFIX:-db_}
mysql=(mariadb -uroot -h127.0.0.1 -P3306)
"${mysql[@]}" -e "CREATE DATABASE IF NOT EXISTS \`${prefix}order\`; CREATE DATABASE IF NOT EXISTS \`${prefix}finance\`"
"${mysql[@]}" "${prefix}order" -e "$(sed -n '/^-- db_order/,/^-- db_finance/p' "$here/schema.sql")"
"${mysql[@]}" "${prefix}finance" -e "$(sed -n '/^-- db_finance/,$p' "$here/schema.sql")"
"${mysql[@]}" "${prefix}finance" -e "REPLACE INTO t_user_account VALUES ('alice', 250.00), ('bob', 20.00)"

export DQ_XA_ORDER="mysql://root@127.0.0.1:3306/${prefix}order" DQ_XA_FINANCE="mysql://root@127.0.0.1:3306/${prefix}finance"
php=(php -d "extension=$root/build/dq.so")
[[ -n ${DQ_XA_LOG:-} ]] && php+=(-d "dq.mysql=$DQ_XA_LOG")
"${php[@]}" "$here/transfer.php" alice 100.00
"${php[@]}" "$here/transfer.php" alice 100.00
"${php[@]}" "$here/transfer.php" alice 100.00
"${php[@]}" "$here/transfer.php" bob 30.00
echo "orders:"
"${mysql[@]}" --table "${prefix}order" -e "SELECT username, money FROM t_user_orders ORDER BY id"
echo "accounts:"
"${mysql[@]}" --table "${prefix}finance" -e "SELECT username, money FROM t_user_account ORDER BY username"
