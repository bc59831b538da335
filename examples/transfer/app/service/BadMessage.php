<?php
declare(strict_types=1);

namespace app\service;

/** A delivery that is not a transfer's credit message: it would fail every time it came. */
final class BadMessage extends \UnexpectedValueException
{
}
