<?php
declare(strict_types=1);

namespace app\service;

use Dq\Xa;

/**
 * Places an order in db_order and takes its price from the buyer's account in db_finance, both
 * or neither: one Dq\Xa transaction across the two databases.
 *
 * Before: the controller sent XA START / END / PREPARE / COMMIT through two PDO connections
 * itself, with nothing recording the decision (a PHP process dying between the two COMMITs left
 * db_finance prepared with its row locked until someone ran XA RECOVER and guessed) and a
 * "rollback" path that sent XA COMMIT. Now dq prepares both in parallel, logs the decision in
 * dq's database, commits both in parallel, and recovery (Dq\Xa::recover() or dq-gateway's xa
 * worker) finishes whatever a crash interrupts.
 */
final class OrderPayment
{
    /** @param array{order: string, finance: string} $databases name => mysql:// URL */
    public function __construct(private array $databases, private array $options = [])
    {
    }

    /**
     * @return array{state: string, order_id?: int, balance?: string, detail?: string}
     *         paid: the order exists and the money is taken; refused: neither happened
     */
    public function pay(string $user, string $amount): array
    {
        try {
            return Xa::run($this->databases, function (Xa $xa) use ($user, $amount): array {
                // Parameters are bound, never spliced: a user name is data, whatever it holds.
                $taken = $xa->execute('finance', 'UPDATE t_user_account SET money = money - ? WHERE username = ? AND money >= ?', [$amount, $user, $amount]);
                if ($taken !== 1) {
                    throw new InsufficientFunds("$user cannot pay $amount");
                }
                $xa->execute('order', 'INSERT INTO t_user_orders (username, money) VALUES (?, ?)', [$user, $amount]);
                $order = $xa->query('order', 'SELECT LAST_INSERT_ID() AS id')[0]['id'];
                $balance = $xa->query('finance', 'SELECT money FROM t_user_account WHERE username = ?', [$user])[0]['money'];
                return ['state' => 'paid', 'order_id' => $order, 'balance' => $balance];
            }, $this->options);
        } catch (InsufficientFunds $e) {
            // Dq\Xa::run rolled both databases back before letting the exception through.
            return ['state' => 'refused', 'detail' => $e->getMessage()];
        }
    }
}
