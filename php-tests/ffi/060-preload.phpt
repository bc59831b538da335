--TEST--
examples/ffi/preload.php as opcache.preload with ffi.enable=preload (as an unprivileged user): DqFfi's classes preloaded, libdq.so in the FFI scope "dq"
--EXTENSIONS--
ffi
posix
--SKIPIF--
<?php
require __DIR__ . '/inc.php';
dq_ffi_skipif();
if (!is_file(ini_get('extension_dir') . '/opcache.so')) echo 'skip opcache.so not installed';
elseif (posix_geteuid() === 0 && !is_executable('/usr/bin/setpriv')) echo 'skip running as root and setpriv is missing';
?>
--FILE--
<?php
require __DIR__ . '/inc.php';
$gw = new TestGateway(dq_test_prefix('ffi-preload'));
$gw->topic('orders');
$dir = dq_ffi_preload_dir();
// As root PHP would need opcache.preload_user (061-preload-as-root.phpt): run as nobody instead.
$nobody = posix_getpwnam('nobody');
$wrapper = posix_geteuid() === 0 ? ['/usr/bin/setpriv', "--reuid={$nobody['uid']}", "--regid={$nobody['gid']}", '--clear-groups'] : [];
dq_ffi_preload_run($dir, $gw->prefix, 'unprivileged', [], $wrapper);
?>
--EXPECT--
-- unprivileged: exit 0
classes preloaded: true
scope dq: preloaded
bool(true)
array(1) {
  ["via"]=>
  string(12) "unprivileged"
}
Dq\UnknownTopicException(3)
