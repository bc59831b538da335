<?php

declare(strict_types=1);

namespace Dq\Laravel;

use Illuminate\Queue\QueueManager;
use Illuminate\Support\ServiceProvider;

/**
 * Adds the `dq` queue driver: a connection with 'driver' => 'dq' in config/queue.php runs its
 * jobs through dq's pull topics (see DqConnector for the settings).
 */
class DqServiceProvider extends ServiceProvider
{
    public function register()
    {
        // After resolving, not at boot: the queue manager is a deferred service, and a job may be
        // dispatched before every provider booted.
        $this->callAfterResolving('queue', static function (QueueManager $manager): void {
            $manager->addConnector('dq', static fn () => new DqConnector());
        });
    }
}
