<?php
/**
 * Loaded by composer's autoloader ("files"). With the dq extension loaded, nothing happens: its
 * classes are used. Without it, Dq\Client (and DqClient), Dq\Producer, Dq\Job, Dq\Xa, Dq\Outbox
 * and Dq\Inbox resolve to the FFI client's classes (examples/ffi/DqFfi.php, over libdq.so: needs
 * ext-ffi and ffi.enable), which have the same methods, arguments and exceptions. Dq\Consumer has
 * no FFI counterpart: consuming from RabbitMQ needs the extension.
 */

declare(strict_types=1);

if (!extension_loaded('dq')) {
    spl_autoload_register(static function (string $class): void {
        $aliases = [
            'Dq\\Client' => 'DqFfi\\Client',
            'DqClient' => 'DqFfi\\Client',
            'Dq\\Job' => 'DqFfi\\Job',
            'Dq\\Producer' => 'DqFfi\\Producer',
            'Dq\\Xa' => 'DqFfi\\Xa',
            'Dq\\Outbox' => 'DqFfi\\Outbox',
            'Dq\\Inbox' => 'DqFfi\\Inbox',
        ];
        if (!isset($aliases[$class]) || !class_exists($aliases[$class])) {
            return;
        }
        // All at once (their file is loaded now): `instanceof Dq\Job` does not autoload.
        foreach ($aliases as $alias => $ffi) {
            if (!class_exists($alias, false)) {
                class_alias($ffi, $alias);
            }
        }
    });
}
