--TEST--
Dq\Client: objects in a body are stored as json_encode writes them (public properties, JsonSerializable, ArrayObject's elements)
--EXTENSIONS--
dq
--FILE--
<?php
require __DIR__ . '/inc/dq.inc';
$gw = new TestGateway(dq_test_prefix('object-bodies'));
$gw->topic('t');

class Point { public $x = 1; protected $hidden = 2; private $secret = 3; public $tags = ['a']; }
class Money implements JsonSerializable {
    public function __construct(private int $cents) {}
    public function jsonSerialize(): mixed { return ['amount' => $this->cents / 100, 'currency' => 'CNY']; }
}
$body = [
    'point' => new Point(),
    'money' => new Money(9950),
    'std' => (object) ['k' => 'v'],
    'empty' => new stdClass(),
    'map' => new ArrayObject(['x' => 1, 'nested' => new ArrayObject(['y' => true])]),
    'list' => new ArrayObject([1, 2]),
    'date' => new DateTimeImmutable('2026-01-02 03:04:05', new DateTimeZone('UTC')),
];
$dq = new Dq\Client(['prefix' => $gw->prefix]);
$dq->add('t', ['id' => 'o', 'body' => $body, 'delay' => 60]);
// Over HTTP the body comes back as raw JSON, so {} and [] stay apart.
$raw = file_get_contents($gw->url . '/v1/topics/t/messages/o');
$stored = json_encode(json_decode($raw, false)->body);
echo $stored, "\n";
var_dump($stored === json_encode($body));
?>
--EXPECT--
{"point":{"x":1,"tags":["a"]},"money":{"amount":99.5,"currency":"CNY"},"std":{"k":"v"},"empty":{},"map":{"x":1,"nested":{"y":true}},"list":{"0":1,"1":2},"date":{"date":"2026-01-02 03:04:05.000000","timezone_type":3,"timezone":"UTC"}}
bool(true)
