--TEST--
examples/ffi/preload.php as root: opcache.preload_user makes PHP refuse FFI::load(), so DqFfi loads libdq.so per request (with a note); with ffi.preload (preload.php --header) the scope "dq" is preloaded
--EXTENSIONS--
ffi
posix
--SKIPIF--
<?php
require __DIR__ . '/inc.php';
dq_ffi_skipif();
if (!is_file(ini_get('extension_dir') . '/opcache.so')) echo 'skip opcache.so not installed';
elseif (posix_geteuid() !== 0) echo 'skip not running as root';
?>
--FILE--
<?php
require __DIR__ . '/inc.php';
$gw = new TestGateway(dq_test_prefix('ffi-preload-root'));
$gw->topic('orders');
$dir = dq_ffi_preload_dir();
dq_ffi_preload_run($dir, $gw->prefix, 'root', ['opcache.preload_user' => 'root']);
dq_ffi_preload_run($dir, $gw->prefix, 'root+ffi.preload', ['opcache.preload_user' => 'root', 'ffi.preload' => "$dir/dq-ffi.h"]);
?>
--EXPECT--
-- root: exit 0
classes preloaded: true
scope dq: none (libdq.so is loaded in the request)
bool(true)
array(1) {
  ["via"]=>
  string(4) "root"
}
Dq\UnknownTopicException(3)
  stderr: dq: libdq.so not preloaded (FFI::load() doesn't work in conjunction with "opcache.preload_user". Use "ffi.preload" instead.); set ffi.preload, see preload.php
-- root+ffi.preload: exit 0
classes preloaded: true
scope dq: preloaded
bool(true)
array(1) {
  ["via"]=>
  string(16) "root+ffi.preload"
}
Dq\UnknownTopicException(3)
