--TEST--
ext/dq.stub.php matches the loaded extension: classes, parents, methods, parameters, defaults and return types; no placeholder URL in the stub or dq.ini
--EXTENSIONS--
dq
tokenizer
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$file = dq_root() . '/ext/dq.stub.php';

/**
 * Reads class and method declarations from a stub file with the tokenizer (the file is never
 * loaded as code). Returns [classes, aliases]: classes[FQCN] = ['final', 'parent', 'methods' =>
 * [name => ['params' => [[type, name, default|null]], 'return' => type|null]]].
 */
function read_stub(string $path): array
{
    $tokens = array_values(array_filter(token_get_all(file_get_contents($path)),
        fn ($t) => !is_array($t) || !in_array($t[0], [T_WHITESPACE, T_COMMENT, T_DOC_COMMENT], true)));
    $text = fn ($t) => is_array($t) ? $t[1] : $t;
    $resolve = function (string $name, string $namespace): string {
        return $name[0] === '\\' ? substr($name, 1) : ltrim("$namespace\\$name", '\\');
    };
    // A type as reflection spells it: classes of the stub's namespace qualified, builtins as is.
    $builtin = ['void', 'bool', 'int', 'float', 'string', 'array', 'mixed', 'null', 'object', 'callable', 'iterable', 'self', 'static', 'never', 'false', 'true'];
    $qualify = function (string $type, string $namespace) use ($resolve, $builtin): string {
        $nullable = str_starts_with($type, '?');
        $name = ltrim($type, '?');
        $name = in_array(strtolower($name), $builtin, true) ? $name : $resolve($name, $namespace);
        return ($nullable ? '?' : '') . $name;
    };
    $classes = $aliases = [];
    $namespace = '';
    $depth = 0;
    $classDepth = null;
    $class = null;
    for ($i = 0, $n = count($tokens); $i < $n; $i++) {
        $t = $tokens[$i];
        if ($t === '{' || (is_array($t) && in_array($t[0], [T_CURLY_OPEN, T_DOLLAR_OPEN_CURLY_BRACES], true))) {
            $depth++;
            continue;
        }
        if ($t === '}') {
            $depth--;
            if ($classDepth !== null && $depth === $classDepth) {
                $class = $classDepth = null;
            }
            continue;
        }
        if (!is_array($t)) {
            continue;
        }
        if ($t[0] === T_NAMESPACE) {
            $namespace = $tokens[$i + 1] === '{' ? '' : $text($tokens[$i + 1]);
            continue;
        }
        $interface = $t[0] === T_INTERFACE;
        if (($interface || $t[0] === T_CLASS) && $tokens[$i - 1] !== '::' && !(is_array($tokens[$i - 1]) && $tokens[$i - 1][0] === T_DOUBLE_COLON)) {
            $name = $resolve($text($tokens[$i + 1]), $namespace);
            $final = is_array($tokens[$i - 1]) && $tokens[$i - 1][0] === T_FINAL;
            $parent = null;
            $implements = [];
            // extends X (a class) / implements A, B (a class) / extends A, B (an interface)
            $list = null;
            for ($j = $i + 2; $tokens[$j] !== '{'; $j++) {
                if (is_array($tokens[$j]) && in_array($tokens[$j][0], [T_EXTENDS, T_IMPLEMENTS], true)) {
                    $list = $tokens[$j][0] === T_EXTENDS && !$interface ? 'parent' : 'implements';
                } elseif ($tokens[$j] !== ',' && $list === 'parent') {
                    $parent = $resolve($text($tokens[$j]), $namespace);
                } elseif ($tokens[$j] !== ',' && $list === 'implements') {
                    $implements[] = $resolve($text($tokens[$j]), $namespace);
                }
            }
            sort($implements);
            $classes[$name] = ['interface' => $interface, 'final' => $final, 'parent' => $parent, 'implements' => $implements, 'methods' => []];
            $class = $name;
            $classDepth = $depth;
            continue;
        }
        if ($t[0] === T_STRING && $t[1] === 'class_alias') {
            // class_alias(\Dq\Client::class, 'DqClient')
            $target = $resolve($text($tokens[$i + 2]), $namespace);
            $aliases[trim($text($tokens[$i + 6]), '\'"')] = $target;
            continue;
        }
        if ($t[0] === T_FUNCTION && $class !== null) {
            $method = $text($tokens[$i + 1]);
            $i += 2; // at '('
            $params = [];
            $current = '';
            $level = 0;
            while (++$i < $n) {
                $p = $tokens[$i];
                if (($p === ')' || $p === ',') && $level === 0) {
                    if (trim($current) !== '') {
                        $params[] = $current;
                    }
                    $current = '';
                    if ($p === ')') {
                        break;
                    }
                    continue;
                }
                if (in_array($p, ['(', '['], true)) {
                    $level++;
                } elseif (in_array($p, [')', ']'], true)) {
                    $level--;
                }
                $current .= $text($p) . ' ';
            }
            $return = null;
            if ($tokens[$i + 1] === ':') {
                $return = '';
                for ($i += 2; $tokens[$i] !== '{' && $tokens[$i] !== ';'; $i++) {
                    $return .= $text($tokens[$i]);
                }
                $i--;
                $return = $qualify($return, $namespace);
            }
            $parsed = [];
            foreach ($params as $param) {
                preg_match('/^(?<type>[^$]*?)\s*\$(?<name>\w+)\s*(?:=\s*(?<default>.+?))?\s*$/', $param, $m);
                $parsed[] = [str_replace(' ', '', $m['type']), $m['name'], isset($m['default']) ? str_replace(' ', '', $m['default']) : null];
            }
            $classes[$class]['methods'][$method] = ['params' => $parsed, 'return' => $return];
        }
    }
    return [$classes, $aliases];
}

[$classes, $aliases] = read_stub($file);
echo "stub declares: ", implode(', ', array_keys($classes)), "\n";
$problems = 0;
$problem = function (string $what) use (&$problems) {
    $problems++;
    echo "  MISMATCH: $what\n";
};
// Default values compared as values: 5.0 and 5 for a float, 'x' and "x" are the same default.
$literal = function (string $text) {
    return match (true) {
        $text === '[]' || $text === 'array()' => [],
        $text === 'null' => null,
        $text === 'true' => true,
        $text === 'false' => false,
        is_numeric($text) => (float) $text,
        default => trim($text, '\'"'),
    };
};
$value = fn ($v) => json_encode(is_int($v) ? (float) $v : $v, JSON_PRESERVE_ZERO_FRACTION);
// ext-php-rs gives classes without a constructor one that refuses `new`: not part of the API.
$placeholder = function (string $class): bool {
    try {
        (new ReflectionClass($class))->newInstance();
    } catch (Exception $e) {
        return $e->getMessage() === 'You cannot instantiate this class from PHP.';
    }
    return false;
};
foreach ($classes as $name => $stub) {
    if (!class_exists($name) && !interface_exists($name)) {
        $problem("$name is in the stub but not in the extension");
        continue;
    }
    $r = new ReflectionClass($name);
    $parent = $r->getParentClass() ? $r->getParentClass()->getName() : null;
    $interfaces = $r->getInterfaceNames();
    sort($interfaces);
    echo $stub['interface'] ? "interface $name" : "$name: parent " . ($stub['parent'] ?? '-') . ', final ' . var_export($stub['final'], true),
        $stub['implements'] ? ($stub['interface'] ? ' extends ' : ', implements ') . implode(', ', $stub['implements']) : '', "\n";
    if ($r->isInterface() !== $stub['interface']) {
        $problem("$name is " . ($r->isInterface() ? 'an interface' : 'a class') . ', the stub says ' . ($stub['interface'] ? 'an interface' : 'a class'));
    }
    // Those a parent brings along are the parent's business (Throwable, Stringable for exceptions).
    $inherited = $parent ? (new ReflectionClass($parent))->getInterfaceNames() : [];
    if (array_values(array_diff($interfaces, $inherited)) !== $stub['implements']) {
        $problem("$name implements " . (implode(', ', $interfaces) ?: 'nothing') . ', the stub says ' . (implode(', ', $stub['implements']) ?: 'nothing'));
    }
    if ($parent !== $stub['parent']) {
        $problem("$name extends " . ($parent ?? 'nothing') . ", the stub says " . ($stub['parent'] ?? 'nothing'));
    }
    if ($r->isFinal() !== $stub['final']) {
        $problem("$name final: " . var_export($r->isFinal(), true) . ", the stub says " . var_export($stub['final'], true));
    }
    $loaded = [];
    foreach ($r->getMethods(ReflectionMethod::IS_PUBLIC) as $m) {
        if ($m->getDeclaringClass()->getName() === $name) {
            $loaded[$m->getName()] = $m;
        }
    }
    if (!isset($stub['methods']['__construct']) && isset($loaded['__construct']) && $placeholder($name)) {
        unset($loaded['__construct']);
    }
    foreach (array_diff(array_keys($loaded), array_keys($stub['methods'])) as $missing) {
        $problem("$name::$missing() is not in the stub");
    }
    foreach ($stub['methods'] as $method => $decl) {
        if (!isset($loaded[$method])) {
            $problem("$name::$method() is in the stub but not in the extension");
            continue;
        }
        $m = $loaded[$method];
        $real = [];
        foreach ($m->getParameters() as $p) {
            $default = $p->isOptional() ? ($p->isDefaultValueAvailable() ? $value($p->getDefaultValue()) : '?') : null;
            $real[] = [(string) $p->getType(), $p->getName(), $default];
        }
        $stubParams = array_map(fn ($p) => [$p[0], $p[1], $p[2] === null ? null : $value($literal($p[2]))], $decl['params']);
        $show = fn ($params) => implode(', ', array_map(fn ($p) => "$p[0] \$$p[1]" . ($p[2] === null ? '' : " = $p[2]"), $params));
        $realReturn = $m->hasReturnType() ? (string) $m->getReturnType() : null;
        echo "  $method(", $show($stubParams), ')', $decl['return'] === null ? '' : ": {$decl['return']}", "\n";
        if ($show($stubParams) !== $show($real)) {
            $problem("$name::$method(" . $show($real) . ") in the extension");
        }
        if ($realReturn !== $decl['return']) {
            $problem("$name::$method() returns " . ($realReturn ?? 'untyped') . " in the extension");
        }
    }
}
foreach ($aliases as $alias => $target) {
    echo "alias $alias => $target: ", var_export(class_exists($alias) && (new ReflectionClass($alias))->getName() === $target, true), "\n";
}
// Every Dq class of the extension is in the stub.
foreach ((new ReflectionExtension('dq'))->getClassNames() as $name) {
    if (!in_array(strtolower($name), array_map('strtolower', [...array_keys($classes), ...array_keys($aliases)]), true)) {
        $problem("$name is in the extension but not in the stub");
    }
}
echo $problems === 0 ? "stub matches\n" : "$problems mismatches\n";

// No placeholder web address left in what users read first (dq has no project URL to give).
foreach (['ext/dq.stub.php', 'ext/conf/dq.ini'] as $path) {
    preg_match_all('~\bhttps?://\S*~i', file_get_contents(dq_root() . "/$path"), $m);
    echo "web addresses in $path: ", $m[0] ? implode(', ', $m[0]) : 'none', "\n";
}
?>
--EXPECT--
stub declares: Dq\Exception, Dq\ConnectionException, Dq\TimeoutException, Dq\InvalidArgumentException, Dq\UnknownTopicException, Dq\XaException, Dq\ClientInterface, Dq\JobInterface, Dq\ProducerInterface, Dq\ConsumerInterface, Dq\DeliveryInterface, Dq\Client, Dq\Job, Dq\Producer, Dq\Consumer, Dq\Delivery, Dq\Xa, Dq\Outbox, Dq\Inbox
Dq\Exception: parent RuntimeException, final false
Dq\ConnectionException: parent Dq\Exception, final false
Dq\TimeoutException: parent Dq\Exception, final false
Dq\InvalidArgumentException: parent Dq\Exception, final false
Dq\UnknownTopicException: parent Dq\Exception, final false
Dq\XaException: parent Dq\Exception, final false
interface Dq\ClientInterface
  add(string $topic, array $data): bool
  get(string $topic, mixed $id): ?array
  del(string $topic, mixed $id): bool
  addMany(string $topic, array $items): int
  stats(string $topic): array
  reserve(string $topic, float $timeout = 1.0): ?Dq\JobInterface
  work(string $topic, callable $handler, array $options = []): int
interface Dq\JobInterface
  id(): string
  topic(): string
  body(): mixed
  attempt(): int
  maxAttempts(): int
  dueAt(): float
  lease(): string
  leaseExpiresAt(): float
  settled(): bool
  ack(): void
  retry(?float $delay = null): bool
  fail(string $reason): void
interface Dq\ProducerInterface
  publish(string $exchange, string $routingKey, mixed $body, array $properties = []): void
  publishDelayed(string $exchange, string $routingKey, mixed $body, float $delay, array $properties = []): void
interface Dq\ConsumerInterface
  next(float $timeout = 1.0): ?Dq\DeliveryInterface
  consume(callable $handler, array $options = []): int
interface Dq\DeliveryInterface
  body(): string
  properties(): array
  routingKey(): string
  exchange(): string
  redelivered(): bool
  ack(): void
  nack(bool $requeue = false): void
  reply(mixed $body): void
Dq\Client: parent -, final true, implements Dq\ClientInterface
  __construct(array $options = [])
  addServer(mixed $servers): void
  add(string $topic, array $data): bool
  get(string $topic, mixed $id): ?array
  del(string $topic, mixed $id): bool
  addMany(string $topic, array $items): int
  stats(string $topic): array
  reserve(string $topic, float $timeout = 1.0): ?Dq\Job
  work(string $topic, callable $handler, array $options = []): int
Dq\Job: parent -, final true, implements Dq\JobInterface
  id(): string
  topic(): string
  body(): mixed
  attempt(): int
  maxAttempts(): int
  dueAt(): float
  lease(): string
  leaseExpiresAt(): float
  settled(): bool
  ack(): void
  retry(?float $delay = null): bool
  fail(string $reason): void
Dq\Producer: parent -, final true, implements Dq\ProducerInterface
  __construct(array $options = [])
  publish(string $exchange, string $routingKey, mixed $body, array $properties = []): void
  publishDelayed(string $exchange, string $routingKey, mixed $body, float $delay, array $properties = []): void
  publishBatch(string $exchange, array $messages): int
  call(string $exchange, string $routingKey, mixed $body, float $timeout = 5.0, array $properties = []): string
  declareExchange(string $name, string $type = "direct", array $options = []): void
  declareQueue(string $name, array $options = []): string
  bindQueue(string $queue, string $exchange, string $routingKey = "", array $arguments = []): void
Dq\Consumer: parent -, final true, implements Dq\ConsumerInterface
  __construct(string $queue, array $options = [])
  next(float $timeout = 1.0): ?Dq\Delivery
  consume(callable $handler, array $options = []): int
Dq\Delivery: parent -, final true, implements Dq\DeliveryInterface
  body(): string
  properties(): array
  routingKey(): string
  exchange(): string
  redelivered(): bool
  ack(): void
  nack(bool $requeue = false): void
  reply(mixed $body): void
Dq\Xa: parent -, final true
  __construct(array $databases, array $options = [])
  execute(string $database, string $sql, array $params = []): int
  query(string $database, string $sql, array $params = []): array
  commit(): void
  rollback(): void
  id(): string
  run(array $databases, callable $handler, array $options = []): mixed
  recover(array $databases, array $options = []): array
Dq\Outbox: parent -, final true
  publish(mixed $pdo, string $exchange, string $routingKey, mixed $body, array $properties = []): string
  add(mixed $pdo, string $topic, array $data): string
  schema(): string
Dq\Inbox: parent -, final true
  claim(mixed $pdo, string $consumer, mixed $messageId): bool
alias DqClient => Dq\Client: true
stub matches
web addresses in ext/dq.stub.php: none
web addresses in ext/conf/dq.ini: none
