<?php
declare(strict_types=1);

namespace app\service;

/** The buyer's balance is below the price: nothing was written. */
final class InsufficientFunds extends \DomainException
{
}
