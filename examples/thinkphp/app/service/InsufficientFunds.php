<?php
declare(strict_types=1);

namespace app\service;

/** The payer's balance is below the amount: nothing was debited or sent. */
final class InsufficientFunds extends \RuntimeException
{
}
