/*
 * libdq.so from C: what a C program (or PHP's FFI) sees. Compiled and run by capi/tests/c_program.rs,
 * under valgrind when it is installed. Settings come from the environment:
 *
 *   DQ_TEST_REDIS   a Redis URL          DQ_TEST_PREFIX  a prefix with topic "orders" registered
 *   DQ_TEST_AMQP    an AMQP URL (vhost)  DQ_TEST_QUEUE   a queue in that vhost the harness reads
 *   DQ_TEST_RPC     a queue whose requests the harness answers
 *   DQ_TEST_IDLE    a queue nobody reads
 *   DQ_TEST_CLOSED  a TCP port nothing listens on
 *   DQ_TEST_SILENT  a Redis URL through a proxy that swallows the replies to script calls
 *   DQ_TEST_MYSQL_A, DQ_TEST_MYSQL_B  URLs of two MySQL databases, each with an empty table
 *                   t (id INT PRIMARY KEY, v VARCHAR(20), b VARBINARY(8)); the harness reads them after
 *   DQ_TEST_MYSQL_LOG  the URL of a database for dq's decision log
 *
 * Each check prints "ok - what" or "not ok - what: got X (last error)", and the exit status is the
 * number of failed checks (0: all passed).
 */
#include "dq.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int failures;

/* The calling thread's last error, in a static buffer (enough for every message dq writes). */
static const char *last_error(void) {
    static char text[4096];
    size_t len = 0;
    if (dq_last_error(text, sizeof text, &len) != DQ_OK) {
        return "(dq_last_error failed)";
    }
    return text;
}

static void check(int ok, const char *what, const char *detail) {
    if (ok) {
        printf("ok - %s\n", what);
    } else {
        failures++;
        printf("not ok - %s: %s\n", what, detail);
    }
    fflush(stdout);
}

/* Checks that a call returned `want`, and that a failure left a message containing `needle`. */
static void expect(dq_result got, dq_result want, const char *needle, const char *what) {
    char detail[4600];
    const char *error = last_error();
    snprintf(detail, sizeof detail, "got %u, want %u (last error: \"%s\")", (unsigned)got, (unsigned)want, error);
    if (got != want) {
        check(0, what, detail);
    } else if (want == DQ_OK) {
        check(error[0] == '\0', what, "a success left an error message");
    } else {
        check(needle == NULL || strstr(error, needle) != NULL, what, detail);
    }
}

static const char *env(const char *name) {
    const char *value = getenv(name);
    if (value == NULL || value[0] == '\0') {
        fprintf(stderr, "%s is not set\n", name);
        exit(100);
    }
    return value;
}

static void error_messages(void) {
    char buf[256];
    size_t len = 0;
    expect(dq_error_message(DQ_CONNECTION, buf, sizeof buf, &len), DQ_OK, NULL, "dq_error_message(DQ_CONNECTION)");
    check(len == strlen(buf) && len > 0, "the message's length is reported", buf);
    size_t full = len;
    char small[8];
    expect(dq_error_message(DQ_CONNECTION, small, sizeof small, &len), DQ_OK, NULL, "a message cut to fit");
    check(strlen(small) == sizeof small - 1 && len == full, "cut to 7 bytes and a NUL, full length reported", small);
    expect(dq_error_message(DQ_CONNECTION, NULL, 0, &len), DQ_OK, NULL, "NULL buffer: only the length");
    check(len == full, "the length without a buffer", "");
    expect(dq_error_message(999, buf, sizeof buf, NULL), DQ_INVALID_ARGUMENT, NULL, "an unknown code");
    for (unsigned code = DQ_OK; code <= DQ_REJECTED; code++) {
        char what[64];
        snprintf(what, sizeof what, "code %u has a message", code);
        check(dq_error_message(code, buf, sizeof buf, NULL) == DQ_OK && buf[0] != '\0', what, buf);
    }
    const char *version = dq_version();
    check(version != NULL && version[0] != '\0', "dq_version", version ? version : "NULL");
}

static dq_client *client(const char *options) {
    dq_client *c = NULL;
    expect(dq_client_new(options, &c), DQ_OK, NULL, "dq_client_new");
    return c;
}

static void delay_queue(const char *redis, const char *prefix) {
    char options[1024];
    snprintf(options, sizeof options, "{\"redis\":\"%s\",\"prefix\":\"%s\",\"body_limit\":4096}", redis, prefix);
    dq_client *c = client(options);
    if (c == NULL) {
        return;
    }

    expect(dq_client_add(c, "orders", "{\"id\":\"o-1\",\"body\":{\"amount\":12.5,\"text\":\"na\xc3\xafve\"},\"delay\":60}"), DQ_OK,
           NULL, "add");
    char *json = NULL;
    expect(dq_client_get(c, "orders", "o-1", &json), DQ_OK, NULL, "get");
    check(json != NULL && strstr(json, "\"id\":\"o-1\"") && strstr(json, "\"body\":{\"amount\":12.5,\"text\":\"na\xc3\xafve\"}")
              && strstr(json, "\"state\":\"delayed\""),
          "get returns the message as JSON", json ? json : "NULL");
    dq_string_free(json);

    json = NULL;
    expect(dq_client_get(c, "orders", "missing", &json), DQ_OK, NULL, "get of a missing id");
    check(json == NULL, "a missing id is NULL", json ? json : "");

    size_t count = 0;
    expect(dq_client_add_many(c, "orders", "[{\"id\":\"m-1\",\"body\":1,\"delay\":60},{\"id\":\"m-2\",\"body\":\"two\",\"delay\":60}]",
                              &count),
           DQ_OK, NULL, "add_many");
    check(count == 2, "add_many stored 2", "");

    expect(dq_client_stats(c, "orders", &json), DQ_OK, NULL, "stats");
    check(json != NULL && strstr(json, "\"delayed\":3"), "stats count 3 delayed", json ? json : "NULL");
    dq_string_free(json);

    bool removed = false;
    expect(dq_client_del(c, "orders", "o-1", &removed), DQ_OK, NULL, "del");
    check(removed, "del removed the message", "");
    expect(dq_client_del(c, "orders", "o-1", &removed), DQ_OK, NULL, "del again");
    check(!removed, "a second del removes nothing", "");
    dq_client_del(c, "orders", "m-1", &removed);
    dq_client_del(c, "orders", "m-2", &removed);

    /* Bad arguments: each a result code and a message naming what was wrong. */
    expect(dq_client_add(NULL, "orders", "{}"), DQ_INVALID_ARGUMENT, "client", "NULL client");
    expect(dq_client_add(c, NULL, "{\"id\":\"x\",\"body\":1}"), DQ_INVALID_ARGUMENT, "topic", "NULL topic");
    expect(dq_client_add(c, "orders", NULL), DQ_INVALID_ARGUMENT, "message_json", "NULL message");
    expect(dq_client_add(c, "ord\xff\xfe", "{\"id\":\"x\",\"body\":1}"), DQ_INVALID_ARGUMENT, "UTF-8", "invalid UTF-8 topic");
    expect(dq_client_add(c, "orders", "{\"id\":\"\xc3\x28\",\"body\":1}"), DQ_INVALID_ARGUMENT, "UTF-8", "invalid UTF-8 in JSON");
    expect(dq_client_add(c, "orders", "{\"id\":"), DQ_INVALID_ARGUMENT, "JSON", "truncated JSON");
    expect(dq_client_add(c, "orders", "[1,2]"), DQ_INVALID_ARGUMENT, "object", "JSON that is not an object");
    expect(dq_client_add(c, "orders", "{\"body\":1,\"delay\":5}"), DQ_INVALID_ARGUMENT, "id", "no id");
    expect(dq_client_add(c, "orders", "{\"id\":\"x\",\"body\":1,\"delay\":-5}"), DQ_INVALID_ARGUMENT, "-5", "negative delay");
    expect(dq_client_add(c, "no-such-topic", "{\"id\":\"x\",\"body\":1}"), DQ_UNKNOWN_TOPIC, "no-such-topic", "unknown topic");
    expect(dq_client_get(c, "orders", "o-1", NULL), DQ_INVALID_ARGUMENT, "out", "NULL out pointer");
    expect(dq_client_del(c, "orders", NULL, &removed), DQ_INVALID_ARGUMENT, "id", "NULL id");
    expect(dq_client_add_many(c, "orders", "{}", &count), DQ_INVALID_ARGUMENT, "array", "add_many of an object");
    expect(dq_client_add(c, "orders", "{\"id\":\"x\",\"priority\":3}"), DQ_INVALID_ARGUMENT,
           "unknown field \"priority\" (fields: id, body, delay, fix_time)", "an unknown field");
    expect(dq_client_add(c, "orders", "{\"id\":\"x\",\"delay\":5,\"delay\":3600}"), DQ_INVALID_ARGUMENT,
           "message_json gives the key \"delay\" twice (at delay,", "a key given twice");
    expect(dq_client_add_many(c, "orders", "[{\"id\":\"y\"},{\"id\":\"x\",\"body\":{\"a\":1,\"a\":2}}]", &count),
           DQ_INVALID_ARGUMENT, "\"a\" twice (at [1].body.a,", "add_many with a key given twice in a body");
    expect(dq_client_add_many(c, "orders", "[{\"id\":\"y\"},{\"id\":\"x\",\"topic\":\"t\"}]", &count),
           DQ_INVALID_ARGUMENT, "messages[1]: unknown field \"topic\"", "add_many with an unknown field");
    expect(dq_client_get(c, "orders", "y", &json), DQ_OK, NULL, "get after the refused add_many");
    check(json == NULL, "a refused add_many stores nothing", json ? json : "");

    /* Oversized input: a body over body_limit (4 KiB here), and 1 MiB of id. */
    static char big[1 << 20];
    memset(big, 'a', sizeof big - 1);
    char *message = malloc(sizeof big + 64);
    snprintf(message, sizeof big + 64, "{\"id\":\"big\",\"body\":\"%.8000s\",\"delay\":60}", big);
    expect(dq_client_add(c, "orders", message), DQ_INVALID_ARGUMENT, "4096", "a body over body_limit");
    snprintf(message, sizeof big + 64, "{\"id\":\"%s\",\"body\":1}", big);
    expect(dq_client_add(c, "orders", message), DQ_INVALID_ARGUMENT, "id", "a 1 MiB id");
    free(message);
    expect(dq_client_get(c, "orders", big, &json), DQ_INVALID_ARGUMENT, "id", "get with a 1 MiB id");

    dq_client *other = NULL;
    expect(dq_client_new("{\"redis\":", &other), DQ_INVALID_ARGUMENT, "JSON", "options that are not JSON");
    expect(dq_client_new("{\"reddis\":\"x\"}", &other), DQ_INVALID_ARGUMENT, "reddis", "an unknown option");
    expect(dq_client_new("{\"prefix\":\"a\",\"prefix\":\"b\"}", &other), DQ_INVALID_ARGUMENT,
           "options_json gives the key \"prefix\" twice", "an option given twice");
    check(other == NULL, "no client on failure", "");
    expect(dq_client_new(NULL, NULL), DQ_INVALID_ARGUMENT, "out", "NULL out_client");

    dq_client_free(c);
    dq_client_free(NULL);
    dq_string_free(NULL);
    dq_bytes_free(NULL, 0);
}

/* A timeout after the write was sent: the message may have been stored, and adding again is safe. */
static void redis_silent_after_write(const char *silent, const char *redis, const char *prefix) {
    char options[1024];
    snprintf(options, sizeof options, "{\"redis\":\"%s\",\"prefix\":\"%s\",\"timeout\":1}", silent, prefix);
    dq_client *slow = client(options);
    snprintf(options, sizeof options, "{\"redis\":\"%s\",\"prefix\":\"%s\"}", redis, prefix);
    dq_client *c = client(options);
    if (slow == NULL || c == NULL) {
        dq_client_free(slow);
        dq_client_free(c);
        return;
    }
    expect(dq_client_add(slow, "orders", "{\"id\":\"t-1\",\"delay\":60}"), DQ_TIMEOUT,
           "did not answer within 1.000s: message \"t-1\" may or may not have been stored; adding it again is safe: "
           "the same id replaces it",
           "a timed-out add");
    size_t count = 0;
    expect(dq_client_add_many(slow, "orders", "[{\"id\":\"t-2\",\"delay\":60}]", &count), DQ_TIMEOUT,
           "0 of 1 messages were confirmed stored and the others may or may not have been; adding them again is safe",
           "a timed-out add_many");
    char *json = NULL;
    expect(dq_client_get(c, "orders", "t-1", &json), DQ_OK, NULL, "get of the timed-out add");
    check(json != NULL, "the timed-out add was stored all the same", "NULL");
    dq_string_free(json);
    bool removed = false;
    dq_client_del(c, "orders", "t-1", &removed);
    dq_client_del(c, "orders", "t-2", &removed);
    dq_client_free(slow);
    dq_client_free(c);
}

static void redis_not_there(int port) {
    char options[256];
    snprintf(options, sizeof options, "{\"redis\":\"127.0.0.1:%d\",\"timeout\":1}", port);
    dq_client *c = client(options);
    if (c == NULL) {
        return;
    }
    char address[64];
    snprintf(address, sizeof address, "127.0.0.1:%d", port);
    expect(dq_client_add(c, "orders", "{\"id\":\"x\",\"body\":1}"), DQ_CONNECTION, address, "add with Redis not there");
    char *json = NULL;
    expect(dq_client_get(c, "orders", "x", &json), DQ_CONNECTION, address, "get with Redis not there");
    dq_client_free(c);
}

/* Several threads share one client; each thread's last error is its own. */
struct worker {
    dq_client *client;
    int index;
    int failed;
};

static void *work(void *arg) {
    struct worker *w = arg;
    char id[32], message[96];
    for (int i = 0; i < 50; i++) {
        snprintf(id, sizeof id, "t%d-%d", w->index, i);
        snprintf(message, sizeof message, "{\"id\":\"%s\",\"body\":%d,\"delay\":60}", id, i);
        bool removed = false;
        if (dq_client_add(w->client, "orders", message) != DQ_OK || dq_client_del(w->client, "orders", id, &removed) != DQ_OK
            || !removed) {
            w->failed++;
        }
    }
    /* A failure here does not show in another thread's last error. */
    if (dq_client_add(w->client, "orders", "{}") != DQ_INVALID_ARGUMENT || strstr(last_error(), "id") == NULL) {
        w->failed++;
    }
    return NULL;
}

static void threads(const char *redis, const char *prefix) {
    char options[1024];
    snprintf(options, sizeof options, "{\"redis\":\"%s\",\"prefix\":\"%s\"}", redis, prefix);
    dq_client *c = client(options);
    if (c == NULL) {
        return;
    }
    pthread_t ids[4];
    struct worker workers[4];
    for (int i = 0; i < 4; i++) {
        workers[i] = (struct worker){.client = c, .index = i};
        pthread_create(&ids[i], NULL, work, &workers[i]);
    }
    int failed = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(ids[i], NULL);
        failed += workers[i].failed;
    }
    check(failed == 0, "4 threads add and del through one client", "a thread's call failed");
    expect(dq_client_stats(c, "orders", NULL), DQ_INVALID_ARGUMENT, "out", "this thread's own last error");
    dq_client_free(c);
}

static void producer(const char *amqp, const char *queue, const char *rpc, const char *idle, int closed_port) {
    char options[1024];
    snprintf(options, sizeof options, "{\"amqp\":\"%s\",\"timeout\":3}", amqp);
    dq_producer *p = NULL;
    expect(dq_producer_new(options, &p), DQ_OK, NULL, "dq_producer_new");
    if (p == NULL) {
        return;
    }
    /* A body with a NUL inside, and properties. */
    static const char body[] = {'a', 0, 'b', (char)0xff};
    expect(dq_producer_publish(p, "", queue, body, sizeof body,
                               "{\"message_id\":\"c-1\",\"content_type\":\"application/octet-stream\",\"headers\":{\"x\":1}}"),
           DQ_OK, NULL, "publish 4 bytes with a NUL");
    expect(dq_producer_publish(p, "", queue, "second", 6, NULL), DQ_OK, NULL, "publish without properties");
    expect(dq_producer_publish_delayed(p, "", queue, "later", 5, 0.2, "{\"message_id\":\"c-3\"}"), DQ_OK, NULL,
           "publish_delayed 0.2 s");
    size_t count = 0;
    expect(dq_producer_publish_batch(p, "", "[{\"routing_key\":\"c-test.void\",\"body\":\"x\"}]", &count), DQ_OK, NULL,
           "publish_batch to a queue nobody has (not mandatory)");
    check(count == 1, "publish_batch confirmed 1", "");

    char *reply = NULL;
    size_t reply_len = 0;
    expect(dq_producer_call(p, "", rpc, "ping", 4, NULL, 5.0, &reply, &reply_len), DQ_OK, NULL, "call");
    check(reply != NULL && reply_len == 9 && memcmp(reply, "pong:ping", 9) == 0, "the reply's body", reply ? reply : "NULL");
    dq_bytes_free(reply, reply_len);

    char *name = NULL;
    expect(dq_producer_declare_queue(p, "", "{\"exclusive\":true}", &name), DQ_OK, NULL, "declare_queue \"\"");
    check(name != NULL && strncmp(name, "amq.gen-", 8) == 0, "the broker named the queue", name ? name : "NULL");
    expect(dq_producer_declare_exchange(p, "c-test.x", "fanout", "{\"durable\":false,\"auto_delete\":true}"), DQ_OK, NULL,
           "declare_exchange");
    expect(dq_producer_bind_queue(p, name, "c-test.x", "", NULL), DQ_OK, NULL, "bind_queue");
    dq_string_free(name);

    /* Failures. */
    expect(dq_producer_call(p, "", idle, "ping", 4, NULL, 0.3, &reply, &reply_len), DQ_TIMEOUT, NULL,
           "call that nobody answers");
    check(reply == NULL && reply_len == 0, "no reply after a timeout", "");
    expect(dq_producer_call(p, "", "c-test.nobody", "ping", 4, NULL, 5.0, &reply, &reply_len), DQ_REJECTED, "c-test.nobody",
           "call to a queue that does not exist");
    expect(dq_producer_publish(p, "c-test.missing", "k", "x", 1, NULL), DQ_NOT_FOUND, "c-test.missing",
           "publish to a missing exchange");
    expect(dq_producer_publish(p, "", "c-test.nobody-here", "x", 1, "{\"mandatory\":true}"), DQ_REJECTED, NULL,
           "a mandatory message no queue takes");
    expect(dq_producer_publish(p, "", queue, "x", 1, "{\"priority\":\"high\"}"), DQ_INVALID_ARGUMENT, "priority", "a bad property");
    expect(dq_producer_publish(p, "", queue, "x", 1, "{\"nope\":1}"), DQ_INVALID_ARGUMENT, "nope", "an unknown property");
    expect(dq_producer_publish(p, "", queue, "x", 1, "{\"headers\":{\"a\":1,\"a\":2}}"), DQ_INVALID_ARGUMENT,
           "properties_json gives the key \"a\" twice (at headers.a,", "a header given twice");
    expect(dq_producer_publish_batch(p, "", "[{\"routing_key\":\"k\",\"routing_key\":\"j\",\"body\":\"x\"}]", &count),
           DQ_INVALID_ARGUMENT, "\"routing_key\" twice (at [0].routing_key,", "publish_batch with a key given twice");
    expect(dq_producer_publish_delayed(p, "", queue, "x", 1, -1, NULL), DQ_INVALID_ARGUMENT,
           "delay_seconds -1 is out of range: expected seconds from 0 to 2592000 (30 days)", "publish_delayed -1 s");
    expect(dq_producer_publish_delayed(p, "", queue, "x", 1, NAN, NULL), DQ_INVALID_ARGUMENT,
           "delay_seconds NaN is not a number", "publish_delayed NaN");
    expect(dq_producer_publish_delayed(p, "", queue, "x", 1, INFINITY, NULL), DQ_INVALID_ARGUMENT,
           "delay_seconds inf is out of range", "publish_delayed infinity");
    expect(dq_producer_publish_delayed(p, "", queue, "x", 1, 1e12, NULL), DQ_INVALID_ARGUMENT,
           "delay_seconds 1000000000000 is out of range", "publish_delayed 1e12 s");
    expect(dq_producer_publish_delayed(p, "", "c-test.order.check", "x", 1, 30, NULL), DQ_NOT_FOUND,
           "queue \"c-test.order.check\" does not exist", "publish_delayed to a queue that does not exist");
    expect(dq_producer_publish(p, "", queue, NULL, 1, NULL), DQ_INVALID_ARGUMENT, "body", "NULL body with a length");
    expect(dq_producer_publish(p, "", queue, NULL, 0, NULL), DQ_OK, NULL, "NULL body of length 0 (empty)");
    expect(dq_producer_publish(p, NULL, queue, "x", 1, NULL), DQ_INVALID_ARGUMENT, "exchange", "NULL exchange");
    expect(dq_producer_publish(p, "", "\xff", "x", 1, NULL), DQ_INVALID_ARGUMENT, "UTF-8", "invalid UTF-8 routing key");
    static char long_key[300];
    memset(long_key, 'k', sizeof long_key - 1);
    expect(dq_producer_publish(p, "", long_key, "x", 1, NULL), DQ_INVALID_ARGUMENT, "255", "a 299-byte routing key");
    expect(dq_producer_publish_batch(p, "", "[{\"body\":", &count), DQ_INVALID_ARGUMENT, "JSON", "publish_batch of bad JSON");
    expect(dq_producer_publish(NULL, "", queue, "x", 1, NULL), DQ_INVALID_ARGUMENT, "producer", "NULL producer");
    /* The channel survived the failures. */
    expect(dq_producer_publish(p, "", queue, "last", 4, NULL), DQ_OK, NULL, "publish after the failures");
    dq_producer_free(p);
    dq_producer_free(NULL);

    snprintf(options, sizeof options, "{\"amqp\":\"amqp://guest:guest@127.0.0.1:%d/%%2f\",\"timeout\":1}", closed_port);
    expect(dq_producer_new(options, &p), DQ_OK, NULL, "a producer for a broker not there");
    char address[64];
    snprintf(address, sizeof address, "127.0.0.1:%d", closed_port);
    expect(dq_producer_publish(p, "", "q", "x", 1, NULL), DQ_CONNECTION, address, "publish with RabbitMQ not there");
    check(strstr(last_error(), "guest:guest") == NULL, "the password is not in the message", last_error());
    dq_producer_free(p);
    expect(dq_producer_new("{\"amqp\":\"http://x\"}", &p), DQ_INVALID_ARGUMENT, "amqp", "a URL that is not amqp://");
}

/* Several threads run statements through one transaction: they take turns. */
struct xa_worker {
    dq_xa *xa;
    int index;
    int failed;
};

static void *xa_work(void *arg) {
    struct xa_worker *w = arg;
    static const char insert[] = "INSERT INTO t (id) VALUES (?)";
    for (int i = 0; i < 10; i++) {
        char params[32];
        snprintf(params, sizeof params, "[%d]", 100 + w->index * 10 + i);
        uint64_t rows = 0;
        if (dq_xa_execute(w->xa, "b", insert, strlen(insert), params, &rows) != DQ_OK || rows != 1) {
            w->failed++;
        }
    }
    return NULL;
}

/* An XA transaction over databases a and b: statements, rows, refused input, threads, commit,
   rollback, a transaction freed unfinished, a server not there, recovery. */
static void xa(const char *a, const char *b, const char *log, int closed_port) {
    char databases[1024], options[512];
    snprintf(databases, sizeof databases, "{\"a\":\"%s\",\"b\":\"%s\"}", a, b);
    snprintf(options, sizeof options, "{\"log\":\"%s\",\"timeout\":10}", log);
    dq_xa *x = NULL;
    expect(dq_xa_new(databases, options, &x), DQ_OK, NULL, "dq_xa_new");
    if (x == NULL) {
        return;
    }
    char *id = NULL;
    expect(dq_xa_id(x, &id), DQ_OK, NULL, "dq_xa_id");
    check(id != NULL && strlen(id) == 38 && strncmp(id, "dq", 2) == 0, "the id is dq and 36 hex digits", id ? id : "NULL");
    dq_string_free(id);

    static const char insert[] = "INSERT INTO t (id, v, b) VALUES (?, ?, ?)";
    uint64_t rows = 0;
    expect(dq_xa_execute(x, "a", insert, strlen(insert), "[1,\"caf\xc3\xa9\",{\"base64\":\"AP/+\"}]", &rows), DQ_OK, NULL,
           "execute on a, with bytes as base64");
    check(rows == 1, "1 row inserted on a", "");
    expect(dq_xa_execute(x, "b", insert, strlen(insert), "[2,null,null]", &rows), DQ_OK, NULL, "execute on b");
    static const char select[] = "SELECT id, v, b FROM t WHERE id = ?";
    char *json = NULL;
    expect(dq_xa_query(x, "a", select, strlen(select), "[1]", &json), DQ_OK, NULL, "query on a");
    check(json != NULL && strcmp(json, "[{\"id\":1,\"v\":\"caf\xc3\xa9\",\"b\":{\"base64\":\"AP/+\"}}]") == 0,
          "the rows as JSON, bytes that are not UTF-8 as base64", json ? json : "NULL");
    dq_string_free(json);

    /* Refused input; the transaction goes on. */
    expect(dq_xa_execute(x, "c", select, strlen(select), "[1]", &rows), DQ_INVALID_ARGUMENT,
           "unknown database \"c\": the databases of this transaction are \"a\", \"b\"", "an unknown database");
    expect(dq_xa_execute(x, "a", select, strlen(select), "[[1]]", &rows), DQ_INVALID_ARGUMENT,
           "params[0] is an array: expected int, float, string, bool or null", "an array as a parameter");
    expect(dq_xa_execute(x, "a", select, strlen(select), "{\"x\":1}", &rows), DQ_INVALID_ARGUMENT,
           "params[x]: params must be a list bound to the ? placeholders in order", "named parameters");
    expect(dq_xa_execute(x, "a", select, strlen(select), "[{\"base64\":\"!\"}]", &rows), DQ_INVALID_ARGUMENT,
           "which is not base64", "bytes that are not base64");
    expect(dq_xa_execute(x, "a", select, strlen(select), NULL, &rows), DQ_INVALID_ARGUMENT,
           "the statement has 1 placeholder(s) (?) but 0 parameter(s) were given", "a parameter missing");
    expect(dq_xa_execute(x, "a", "SELECT 'caf\xe9'", 12, NULL, &rows), DQ_INVALID_ARGUMENT,
           "sql is not valid UTF-8 (at byte 11): send binary data as a parameter", "SQL that is not UTF-8");
    expect(dq_xa_execute(x, "a", NULL, 3, NULL, &rows), DQ_INVALID_ARGUMENT, "sql", "NULL sql with a length");
    expect(dq_xa_execute(x, "a", "SELEKT 1", 8, NULL, &rows), DQ_TRANSACTION, "the statement on \"a\" failed", "an SQL error");
    expect(dq_xa_execute(NULL, "a", "SELECT 1", 8, NULL, &rows), DQ_INVALID_ARGUMENT, "xa is NULL", "NULL xa");
    expect(dq_xa_query(x, "a", select, strlen(select), "[1]", NULL), DQ_INVALID_ARGUMENT, "out_rows_json", "NULL out_rows_json");

    pthread_t ids[4];
    struct xa_worker workers[4];
    for (int i = 0; i < 4; i++) {
        workers[i] = (struct xa_worker){.xa = x, .index = i};
        pthread_create(&ids[i], NULL, xa_work, &workers[i]);
    }
    int failed = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(ids[i], NULL);
        failed += workers[i].failed;
    }
    check(failed == 0, "4 threads insert through one transaction", "a thread's statement failed");

    char *pending = NULL;
    expect(dq_xa_commit(x, &pending), DQ_OK, NULL, "commit");
    check(pending == NULL, "no branch left to recovery", pending ? pending : "");
    dq_string_free(pending);
    bool active = true;
    expect(dq_xa_is_active(x, &active), DQ_OK, NULL, "is_active");
    check(!active, "not active after commit", "");
    expect(dq_xa_execute(x, "a", "SELECT 1", 8, NULL, &rows), DQ_TRANSACTION, "was already committed", "a statement after commit");
    expect(dq_xa_rollback(x), DQ_TRANSACTION, "committed", "rollback after commit");
    dq_xa_free(x);

    /* Rolled back, and freed unfinished: neither row is there afterwards (the harness looks). */
    expect(dq_xa_new(databases, options, &x), DQ_OK, NULL, "a second transaction");
    expect(dq_xa_execute(x, "a", insert, strlen(insert), "[3,\"rolled back\",null]", &rows), DQ_OK, NULL, "execute");
    expect(dq_xa_rollback(x), DQ_OK, NULL, "rollback");
    expect(dq_xa_rollback(x), DQ_OK, NULL, "rollback again");
    dq_xa_free(x);
    expect(dq_xa_new(databases, options, &x), DQ_OK, NULL, "a third transaction");
    expect(dq_xa_execute(x, "a", insert, strlen(insert), "[4,\"freed\",null]", &rows), DQ_OK, NULL, "execute");
    dq_xa_free(x);
    dq_xa_free(NULL);

    x = NULL;
    expect(dq_xa_new("{}", options, &x), DQ_INVALID_ARGUMENT, "databases_json is empty", "no databases");
    expect(dq_xa_new("[\"mysql://root@127.0.0.1/x\"]", options, &x), DQ_INVALID_ARGUMENT, "not an object", "a list of databases");
    expect(dq_xa_new("{\"or der\":\"mysql://root@127.0.0.1/x\"}", NULL, &x), DQ_INVALID_ARGUMENT,
           "database name \"or der\" is invalid", "a bad name");
    expect(dq_xa_new("{\"a\":3306}", NULL, &x), DQ_INVALID_ARGUMENT, "databases['a'] 3306 is an int: expected a mysql:// URL",
           "a URL that is not a string");
    expect(dq_xa_new(databases, "{\"logs\":\"x\"}", &x), DQ_INVALID_ARGUMENT, "unknown option \"logs\" (options: log, timeout; recover() also takes older_than)",
           "an unknown option");
    expect(dq_xa_new(databases, "{\"timeout\":-1}", &x), DQ_INVALID_ARGUMENT,
           "options['timeout']: timeout -1 is invalid: expected seconds above 0 and at most 3600", "a bad timeout");
    expect(dq_xa_new(databases, "{\"log\":\"mysql://h\"}", &x), DQ_INVALID_ARGUMENT, "options['log']: \"mysql://h\" is not a MySQL URL",
           "a bad log URL");
    expect(dq_xa_new(NULL, NULL, &x), DQ_INVALID_ARGUMENT, "databases_json is NULL", "NULL databases_json");
    check(x == NULL, "no transaction on failure", "");

    /* A server that is not there: DQ_CONNECTION, the password masked. */
    char gone[256];
    snprintf(gone, sizeof gone, "{\"gone\":\"mysql://root:secret@127.0.0.1:%d/x\"}", closed_port);
    snprintf(options, sizeof options, "{\"log\":\"%s\",\"timeout\":1}", log);
    expect(dq_xa_new(gone, options, &x), DQ_OK, NULL, "a transaction on a server not there");
    expect(dq_xa_execute(x, "gone", "SELECT 1", 8, NULL, &rows), DQ_CONNECTION, "cannot start the branch on \"gone\"",
           "a statement on a server not there");
    check(strstr(last_error(), "secret") == NULL, "the password is not in the message", last_error());
    dq_xa_free(x);

    char *list = NULL;
    snprintf(options, sizeof options, "{\"log\":\"%s\",\"older_than\":0}", log);
    expect(dq_xa_recover(databases, options, &list), DQ_OK, NULL, "recover");
    check(list != NULL && strcmp(list, "[]") == 0, "nothing in doubt", list ? list : "NULL");
    dq_string_free(list);
    expect(dq_xa_recover(databases, "{\"older_than\":-1}", &list), DQ_INVALID_ARGUMENT,
           "options['older_than']: older_than \"-1\" is invalid: expected seconds from 0 to 2592000 (30 days)", "recover, older_than -1");
}

int main(void) {
    const char *redis = env("DQ_TEST_REDIS");
    const char *prefix = env("DQ_TEST_PREFIX");
    int closed = atoi(env("DQ_TEST_CLOSED"));
    error_messages();
    delay_queue(redis, prefix);
    redis_not_there(closed);
    redis_silent_after_write(env("DQ_TEST_SILENT"), redis, prefix);
    threads(redis, prefix);
    producer(env("DQ_TEST_AMQP"), env("DQ_TEST_QUEUE"), env("DQ_TEST_RPC"), env("DQ_TEST_IDLE"), closed);
    xa(env("DQ_TEST_MYSQL_A"), env("DQ_TEST_MYSQL_B"), env("DQ_TEST_MYSQL_LOG"), closed);
    printf("%d failed\n", failures);
    return failures;
}
