<?php
// The contract of think-queue 3.x (topthink/think-queue, for ThinkPHP 6 and 8; Apache-2.0) that
// Dq\Think builds on, which composer cannot install here: its abstract think\queue\Connector and
// think\queue\Job as upstream has them, and the few framework pieces they call (think\App,
// think\helper\Arr and Str) reduced to what those two use. Loaded as composer would (PSR-4).
spl_autoload_register(static function (string $class): void {
    if (str_starts_with($class, 'think\\')) {
        $file = __DIR__ . '/' . str_replace('\\', '/', substr($class, strlen('think\\'))) . '.php';
        if (is_file($file)) {
            require $file;
        }
    }
});
