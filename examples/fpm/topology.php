<?php
// Declares what examples/fpm/publish.php publishes to, once per deploy (not per request):
// exchange "shop.events" (topic, durable) and queue "shop.orders" bound to "order.*".
//   php -d extension=dq.so -d dq.amqp=amqp://guest:guest@127.0.0.1:5672/%2f topology.php
// Declaring is idempotent: run it again after changing nothing and nothing changes.

declare(strict_types=1);

$producer = new Dq\Producer();
$producer->declareExchange('shop.events', 'topic');
$producer->declareQueue('shop.orders');
$producer->bindQueue('shop.orders', 'shop.events', 'order.*');
echo "declared exchange shop.events (topic), queue shop.orders bound to order.*\n";
