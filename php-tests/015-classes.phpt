--TEST--
dq.so classes: the exception hierarchy, Dq\Client final (implementing Dq\ClientInterface) with its signatures, the DqClient alias
--EXTENSIONS--
dq
--FILE--
<?php
echo "-- exceptions\n";
foreach (['Dq\Exception', 'Dq\ConnectionException', 'Dq\TimeoutException', 'Dq\InvalidArgumentException', 'Dq\UnknownTopicException'] as $class) {
    $r = new ReflectionClass($class);
    $e = new $class('x');
    printf("%-28s parent %-18s Dq\\Exception %s RuntimeException %s final %s internal %s\n", $class, $r->getParentClass()->getName(),
        var_export($e instanceof Dq\Exception, true), var_export($e instanceof RuntimeException, true),
        var_export($r->isFinal(), true), var_export($r->isInternal(), true));
}
// Made and thrown from PHP like any exception: message, code, previous, file and line of the `new`.
$previous = new LogicException('cause');
$line = __LINE__ + 1;
$e = new Dq\TimeoutException('Redis did not answer', 5, $previous);
var_dump($e->getMessage(), $e->getCode(), $e->getPrevious() === $previous, $e->getLine() === $line, $e->getFile() === __FILE__);
try {
    throw new Dq\ConnectionException('down', 4);
} catch (Dq\Exception $caught) {
    echo get_class($caught), ' caught as Dq\Exception, code ', $caught->getCode(), "\n";
}
class AppException extends Dq\InvalidArgumentException {}
var_dump((new AppException('y', 2)) instanceof Dq\Exception);
// One thrown by the extension: file and line of the PHP call.
try {
    $line = __LINE__ + 1;
    new Dq\Client(['nope' => 1]);
} catch (Dq\InvalidArgumentException $e) {
    var_dump($e->getLine() === $line, $e->getFile() === __FILE__, $e->getPrevious(), str_contains($e->getTraceAsString(), 'Dq\Client->__construct'));
}

echo "-- Dq\\Client\n";
$client = new ReflectionClass('Dq\Client');
var_dump($client->isFinal(), $client->isInternal(), $client->getExtensionName(), $client->getInterfaceNames(), $client->getParentClass());
$methods = $client->getMethods();
usort($methods, fn ($a, $b) => strcmp($a->getName(), $b->getName()));
foreach ($methods as $method) {
    $params = array_map(fn (ReflectionParameter $p) => ($p->getType() ?? 'untyped') . ' $' . $p->getName()
        . ($p->isOptional() ? ' = ' . ($p->isDefaultValueAvailable() ? json_encode($p->getDefaultValue()) : '?') : ''), $method->getParameters());
    printf("%s%s(%s)%s\n", $method->isPublic() ? 'public ' : 'non-public ', $method->getName(), implode(', ', $params),
        $method->hasReturnType() ? ': ' . $method->getReturnType() : '');
}
// No half-made clients: not cloneable, not (un)serializable, no instance without the constructor.
foreach ([
    'clone' => fn () => clone new Dq\Client(),
    'serialize' => fn () => serialize(new Dq\Client()),
    'unserialize' => fn () => unserialize('O:9:"Dq\\Client":0:{}'),
    'without constructor' => fn () => $client->newInstanceWithoutConstructor(),
] as $what => $fn) {
    try {
        $fn();
        echo "$what: allowed\n";
    } catch (Throwable $e) {
        echo "$what: ", get_class($e), "\n";
    }
}

echo "-- DqClient\n";
var_dump(class_exists('DqClient'), class_exists('dqclient'));
$old = new DqClient();
var_dump($old instanceof Dq\Client, get_class($old), (new ReflectionClass('DqClient'))->getName());
var_dump(new DqClient(['prefix' => 'x']) instanceof DqClient, new Dq\Client() instanceof DqClient);
?>
--EXPECTF--
-- exceptions
Dq\Exception                 parent RuntimeException   Dq\Exception true RuntimeException true final false internal true
Dq\ConnectionException       parent Dq\Exception       Dq\Exception true RuntimeException true final false internal true
Dq\TimeoutException          parent Dq\Exception       Dq\Exception true RuntimeException true final false internal true
Dq\InvalidArgumentException  parent Dq\Exception       Dq\Exception true RuntimeException true final false internal true
Dq\UnknownTopicException     parent Dq\Exception       Dq\Exception true RuntimeException true final false internal true
string(20) "Redis did not answer"
int(5)
bool(true)
bool(true)
bool(true)
Dq\ConnectionException caught as Dq\Exception, code 4
bool(true)
bool(true)
bool(true)
NULL
bool(true)
-- Dq\Client
bool(true)
bool(true)
string(2) "dq"
array(1) {
  [0]=>
  string(18) "Dq\ClientInterface"
}
bool(false)
public __construct(array $options = [])
public add(string $topic, array $data): bool
public addMany(string $topic, array $items): int
public addServer(mixed $servers): void
public del(string $topic, mixed $id): bool
public get(string $topic, mixed $id): ?array
public reserve(string $topic, float $timeout = 1): ?Dq\Job
public stats(string $topic): array
public work(string $topic, callable $handler, array $options = []): int
clone: Error
serialize: Exception
unserialize: Exception
without constructor: ReflectionException
-- DqClient
bool(true)
bool(true)
bool(true)
string(9) "Dq\Client"
string(9) "Dq\Client"
bool(true)
bool(true)
