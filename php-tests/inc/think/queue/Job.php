<?php
// think-queue 3.x src/queue/Job.php (topthink/think-queue, Apache-2.0): the contract of a job,
// members and behaviour as upstream, its comments left out.

namespace think\queue;

use Exception;
use think\App;
use think\helper\Arr;
use think\helper\Str;

abstract class Job
{
    /** The handler instance. */
    private $instance;

    /** getRawBody(), JSON-decoded. */
    private $payload;

    /** @var App */
    protected $app;

    /** The queue's name. */
    protected $queue;

    /** The connection's name. */
    protected $connection;

    protected $deleted = false;

    protected $released = false;

    protected $failed = false;

    public function payload($name = null, $default = null)
    {
        if (empty($this->payload)) {
            $this->payload = json_decode($this->getRawBody(), true);
        }
        if (empty($name)) {
            return $this->payload;
        }
        return Arr::get($this->payload, $name, $default);
    }

    public function fire()
    {
        $instance = $this->getResolvedJob();
        [, $method] = $this->getParsedJob();
        $instance->{$method}($this, $this->payload('data'));
    }

    /** @param Exception $e */
    public function failed($e)
    {
        $instance = $this->getResolvedJob();
        if (method_exists($instance, 'failed')) {
            $instance->failed($this->payload('data'), $e);
        }
    }

    public function delete()
    {
        $this->deleted = true;
    }

    public function isDeleted()
    {
        return $this->deleted;
    }

    public function release($delay = 0)
    {
        $this->released = true;
    }

    public function isReleased()
    {
        return $this->released;
    }

    public function isDeletedOrReleased()
    {
        return $this->isDeleted() || $this->isReleased();
    }

    abstract public function getJobId();

    abstract public function attempts();

    abstract public function getRawBody();

    protected function getParsedJob()
    {
        $segments = explode('@', $this->payload('job'));
        return count($segments) > 1 ? $segments : [$segments[0], 'fire'];
    }

    protected function resolve($name, $param)
    {
        $namespace = $this->app->getNamespace() . '\\job\\';
        $class = false !== strpos($name, '\\') ? $name : $namespace . Str::studly($name);
        return $this->app->make($class, [$param], true);
    }

    public function getResolvedJob()
    {
        if (empty($this->instance)) {
            [$class] = $this->getParsedJob();
            $this->instance = $this->resolve($class, $this->payload('data'));
        }
        return $this->instance;
    }

    public function hasFailed()
    {
        return $this->failed;
    }

    public function markAsFailed()
    {
        $this->failed = true;
    }

    public function maxTries()
    {
        return $this->payload('maxTries');
    }

    public function timeout()
    {
        return $this->payload('timeout');
    }

    public function timeoutAt()
    {
        return $this->payload('timeoutAt');
    }

    public function getName()
    {
        return $this->payload('job');
    }

    public function getConnection()
    {
        return $this->connection;
    }

    public function getQueue()
    {
        return $this->queue;
    }
}
