<?php
declare(strict_types=1);

namespace app\service;

/** The payer's balance is below the amount: nothing was written. */
final class InsufficientFunds extends \DomainException
{
}
