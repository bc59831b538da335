<?php
// topthink/framework's think\App (the container), reduced to what think\queue\Job calls:
// getNamespace() and make(). The real make() also injects dependencies; here a job class is
// built with the arguments given.

namespace think;

class App
{
    public function __construct(protected string $namespace = 'app')
    {
    }

    /** The application's root namespace ("app"): job names without one are app\job\<Name>. */
    public function getNamespace()
    {
        return $this->namespace;
    }

    public function make(string $abstract, array $vars = [], bool $newInstance = false)
    {
        return new $abstract(...$vars);
    }
}
