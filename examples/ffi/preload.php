<?php
/**
 * opcache.preload script for PHP-FPM: loads libdq.so once, before the workers fork, into the
 * FFI scope "dq" that DqFfi\Library uses, and preloads DqFfi.php's classes. php.ini:
 *
 *   ffi.enable = preload
 *   opcache.enable = 1
 *   opcache.preload = /path/to/dq/examples/ffi/preload.php
 *
 * FFI::load() reads only two preprocessor lines, FFI_SCOPE and FFI_LIB, so they are put in front
 * of include/dq_ffi.h in a file of their own.
 *
 * When PHP starts as root (php-fpm's master usually does), opcache needs opcache.preload_user
 * and then runs this script in a child process, where PHP refuses FFI::load(). Give PHP the
 * header with ffi.preload instead (this script then only preloads the classes):
 *
 *   php /path/to/dq/examples/ffi/preload.php --header > /etc/php/dq-ffi.h   (once, and after moving libdq.so)
 *   ffi.preload = /etc/php/dq-ffi.h
 *   opcache.preload_user = www-data
 *
 * Without either, DqFfi\Library still works, loading the library in each request.
 */
// Declares classes only: DqFfi\Library::ffi() finds the scope loaded below.
require_once __DIR__ . '/DqFfi.php';
[$declarations, $library] = DqFfi\Library::paths();
$header = sprintf("#define FFI_SCOPE \"dq\"\n#define FFI_LIB \"%s\"\n", addslashes($library))
    . file_get_contents($declarations);

if (PHP_SAPI === 'cli' && realpath($_SERVER['argv'][0] ?? '') === __FILE__) {
    if (($_SERVER['argv'][1] ?? '') !== '--header') {
        fwrite(STDERR, "usage: php preload.php --header > dq-ffi.h   (the header for ffi.preload); as opcache.preload, it loads dq\n");
        exit(2);
    }
    echo $header;
    return;
}

try {
    FFI::scope('dq'); // given by ffi.preload
} catch (FFI\Exception) {
    $file = sys_get_temp_dir() . '/dq-ffi-preload-' . md5($header) . '.h';
    if (!is_file($file)) {
        file_put_contents($file, $header);
    }
    try {
        FFI::load($file);
    } catch (FFI\Exception $e) {
        // opcache.preload_user: see above; DqFfi\Library loads the library per request.
        error_log("dq: libdq.so not preloaded ({$e->getMessage()}); set ffi.preload, see " . __FILE__);
    }
}
