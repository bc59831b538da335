--TEST--
composer: dq/dq from a path repository with Debian's composer (no network): composer validate; the autoloader finds the framework drivers and the stubs are in the package, not autoloaded; without dq.so Dq\Client, Dq\Job and the Dq\ exceptions are the FFI client's (a job added, reserved and acked over libdq.so); with dq.so they are the extension's
--EXTENSIONS--
dq
--SKIPIF--
<?php
if (!is_executable('/usr/bin/composer')) die('skip composer not installed (scripts/setup.sh installs it)');
if (!is_file(PHP_EXTENSION_DIR . '/ffi.so') && !extension_loaded('ffi')) die('skip no FFI extension');
?>
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$dir = sys_get_temp_dir() . '/dq-composer-' . getmypid();
mkdir($dir);
register_shutdown_function(function () use ($dir): void {
    exec('rm -rf ' . escapeshellarg($dir));
});
$composer = function (string $args) use ($dir): array {
    $env = 'COMPOSER_HOME=' . escapeshellarg("$dir/.composer") . ' COMPOSER_ALLOW_SUPERUSER=1 COMPOSER_NO_INTERACTION=1 COMPOSER_DISABLE_NETWORK=1';
    exec("cd " . escapeshellarg($dir) . " && $env composer $args 2>&1", $out, $status);
    return [$status, implode("\n", $out)];
};

[$status, $out] = $composer('validate --no-check-publish --no-check-lock ' . escapeshellarg(dq_root() . '/composer.json'));
echo 'composer validate: ', $status === 0 ? 'valid' : "($status) $out", "\n";

file_put_contents("$dir/composer.json", json_encode([
    'name' => 'test/app',
    'type' => 'project',
    'repositories' => [
        ['type' => 'path', 'url' => dq_root(), 'options' => ['symlink' => true, 'versions' => ['dq/dq' => '0.1.0']]],
        ['packagist.org' => false],
    ],
    'require' => ['dq/dq' => '^0.1'],
], JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES));
[$status, $out] = $composer('install --no-progress');
echo 'composer install: ', $status === 0 ? 'ok' : "($status) $out", "\n";
echo 'vendor/dq/dq is the repository (a link): ', var_export(realpath("$dir/vendor/dq/dq") === realpath(dq_root()), true), "\n";
echo 'stubs in the package: ', var_export(is_file("$dir/vendor/dq/dq/ext/dq.stub.php"), true), "\n";

$prefix = dq_test_prefix('composer');
$gw = new TestGateway($prefix);
$gw->topic('jobs', ['mode' => 'pull']);
file_put_contents("$dir/check.php", <<<'PHP'
    <?php
    $loader = require __DIR__ . '/vendor/autoload.php';
    $relative = fn (?string $file) => $file === null ? 'not found' : substr(realpath($file), strlen(realpath(__DIR__ . '/vendor/dq/dq')) + 1);
    foreach (['Dq\Laravel\DqServiceProvider', 'Dq\Symfony\DqTransportFactory', 'Dq\Think\Connector', 'DqFfi\Client'] as $class) {
        echo "  $class: ", $relative($loader->findFile($class)), "\n";
    }
    echo '  stubs autoloaded: ', var_export(in_array(realpath(__DIR__ . '/vendor/dq/dq/ext/dq.stub.php'), get_included_files(), true), true), "\n";
    $client = new Dq\Client(['prefix' => $argv[1]]);
    $internal = (new ReflectionClass($client))->isInternal();
    echo '  Dq\Client is ', get_class($client), $internal ? ' (the extension)' : ' (FFI)', "\n";
    $client->add('jobs', ['id' => 'j1', 'body' => ['via' => $internal ? 'ext' : 'ffi']]);
    $job = $client->reserve('jobs', 2.0);
    echo '  reserved ', $job->id(), ' ', json_encode($job->body()), ', a Dq\Job: ', var_export($job instanceof Dq\Job, true), "\n";
    $job->ack();
    try {
        $client->add('nope', ['id' => 'x']);
    } catch (Dq\UnknownTopicException $e) {
        echo '  ', get_class($e), ' (code ', $e->getCode(), ")\n";
    }
    PHP);
$run = function (array $command) use ($dir, $prefix): void {
    $command = [...$command, "$dir/check.php", $prefix];
    exec(implode(' ', array_map('escapeshellarg', $command)) . ' 2>&1', $out, $status);
    echo implode("\n", $out), $status === 0 ? '' : "\n  exit $status", "\n";
};
echo "-- without dq.so\n";
$ffi = is_file(PHP_EXTENSION_DIR . '/ffi.so') ? ['-d', 'extension=ffi'] : [];
$run([PHP_BINARY, '-n', ...$ffi, '-d', 'ffi.enable=1']);
echo "-- with dq.so\n";
$run(dq_php_command([]));
?>
--EXPECT--
composer validate: valid
composer install: ok
vendor/dq/dq is the repository (a link): true
stubs in the package: true
-- without dq.so
  Dq\Laravel\DqServiceProvider: php/src/Laravel/DqServiceProvider.php
  Dq\Symfony\DqTransportFactory: php/src/Symfony/DqTransportFactory.php
  Dq\Think\Connector: php/src/Think/Connector.php
  DqFfi\Client: examples/ffi/DqFfi.php
  stubs autoloaded: false
  Dq\Client is DqFfi\Client (FFI)
  reserved j1 {"via":"ffi"}, a Dq\Job: true
  Dq\UnknownTopicException (code 3)
-- with dq.so
  Dq\Laravel\DqServiceProvider: php/src/Laravel/DqServiceProvider.php
  Dq\Symfony\DqTransportFactory: php/src/Symfony/DqTransportFactory.php
  Dq\Think\Connector: php/src/Think/Connector.php
  DqFfi\Client: examples/ffi/DqFfi.php
  stubs autoloaded: false
  Dq\Client is Dq\Client (the extension)
  reserved j1 {"via":"ext"}, a Dq\Job: true
  Dq\UnknownTopicException (code 3)
