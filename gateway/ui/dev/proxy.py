#!/usr/bin/env python3
"""DEVELOPMENT TOOL — not part of dq-gateway; never run it in production.

Plays the gateway's side of the admin UI's contract until dq-gateway serves /ui/ itself, so the
UI and its browser tests can be written against a real gateway today:

- serves gateway/ui/ at /ui/ (assets under /ui/assets/, every other /ui/<page> is index.html),
  with the Content-Security-Policy the gateway will send;
- /ui/session (GET, POST {"token"}, DELETE): sessions in memory, the `dq_session` cookie
  (HttpOnly, SameSite=Strict), a CSRF token per session, an admin and a read-only token;
- /v1/overview, built from the real gateway's /v1/topics, /stats, /v1/subscriptions, /healthz
  and /metrics (lateness is null: the gateway's lateness histogram is not per topic);
- every other /v1/..., /healthz, /metrics and /openapi.json is passed to the real gateway with
  its bearer token added. A request that is not GET/HEAD needs `X-Dq-Csrf`, and a read-only
  session may change nothing (403).

Python 3 standard library only. Example:

    build/dq-gateway --config my.toml &          # with token = "secret"
    python3 gateway/ui/dev/proxy.py --gateway http://127.0.0.1:8088 --gateway-token secret \\
        --readonly-token look --listen 127.0.0.1:8089
    # then open http://127.0.0.1:8089/ui/ and sign in with "secret" (admin) or "look" (viewer)
"""

import argparse
import concurrent.futures
import hmac
import http.client
import http.server
import json
import mimetypes
import os
import re
import secrets
import sys
import threading
import time
import urllib.parse

CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "frame-ancestors 'none'")
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".png": "image/png",
}
ASSET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
API_PATHS = ("/v1/", "/healthz", "/metrics", "/openapi.json")
METRIC_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


class Sessions:
    """Signed-in browsers: session id -> {"role", "csrf"}; kept in memory only."""

    def __init__(self):
        self._lock = threading.Lock()
        self._by_id = {}

    def create(self, role):
        sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with self._lock:
            self._by_id[sid] = {"role": role, "csrf": csrf}
        return sid, self._by_id[sid]

    def get(self, sid):
        with self._lock:
            return self._by_id.get(sid) if sid else None

    def drop(self, sid):
        with self._lock:
            self._by_id.pop(sid, None)


class Gateway:
    """The real dq-gateway behind the proxy."""

    def __init__(self, url, token, timeout=10.0):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise SystemExit(f"--gateway {url!r}: expected http://host:port")
        self.host, self.port = parts.hostname, parts.port or 80
        self.token, self.timeout = token, timeout

    def request(self, method, path, body=None, headers=None):
        """Returns (status, headers as a list of pairs, body bytes)."""
        out = {k: v for k, v in (headers or {}).items() if v is not None}
        if self.token and "Authorization" not in out:
            out["Authorization"] = f"Bearer {self.token}"
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request(method, path, body=body, headers=out)
            resp = conn.getresponse()
            return resp.status, resp.getheaders(), resp.read()
        finally:
            conn.close()

    def json(self, path):
        status, _, body = self.request("GET", path, headers={"Accept": "application/json"})
        if path == "/healthz" and status == 503:  # degraded still has its body
            return json.loads(body)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {body[:200]!r}")
        return json.loads(body)

    def stats(self, topic):
        """A topic's counts; zeros when it went away meanwhile."""
        try:
            return self.json(f"/v1/topics/{urllib.parse.quote(topic['name'], safe='')}/stats")
        except RuntimeError:
            return {}

    def overview(self):
        """/v1/overview as the gateway will answer it, from the routes it has today."""
        at = time.time()
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            topics_f = pool.submit(self.json, "/v1/topics")
            subs_f = pool.submit(self.json, "/v1/subscriptions")
            health_f = pool.submit(self.json, "/healthz")
            metrics_f = pool.submit(self.request, "GET", "/metrics")
            topics = topics_f.result()["topics"]
            stats = list(pool.map(self.stats, topics))
            subs = subs_f.result()["subscriptions"]
            health = health_f.result()
            metrics = parse_metrics(metrics_f.result()[2].decode("utf-8", "replace"))

        def total(name, label, value):
            return int(sum(v for (n, labels), v in metrics.items()
                           if n == name and dict(labels).get(label) == value))

        consumers = health.get("subscriptions") or {}
        return {
            "at": at,
            "topics": [{
                "name": t["name"], "mode": t.get("mode", "push"), "status": t["status"],
                **{k: s.get(k, 0) for k in ("delayed", "ready", "inflight", "dead")},
                "delivered_total": total("dq_messages_delivered_total", "topic", t["name"]),
                "failed_total": total("dq_delivery_failures_total", "topic", t["name"]),
                "dead_total": total("dq_dead_letters_total", "topic", t["name"]),
                "lateness_p50_ms": None, "lateness_p99_ms": None,
            } for t, s in zip(topics, stats)],
            "subscriptions": [subscription_overview(s, consumers.get(s["name"]), total)
                              for s in subs],
            "health": health,
        }


def subscription_overview(sub, consumer, total):
    consumer = consumer or {}
    out = {
        "name": sub["name"], "status": sub["status"], "queue": sub["queue"],
        "state": consumer.get("status", "starting"),
        "in_flight": consumer.get("in_flight", 0),
        "delivered_total": total("dq_subscription_delivered_total", "subscription", sub["name"]),
        "failed_total": total("dq_subscription_failed_total", "subscription", sub["name"]),
        "dead_total": total("dq_subscription_dead_total", "subscription", sub["name"]),
    }
    if consumer.get("error"):
        out["error"] = consumer["error"]
    return out


def parse_metrics(text):
    """Prometheus text -> {(name, ((label, value), ...)): float}."""
    out = {}
    for line in text.splitlines():
        m = METRIC_LINE.match(line)
        if not m or line.startswith("#"):
            continue
        labels = tuple(sorted(LABEL.findall(m.group(2) or "")))
        try:
            out[(m.group(1), labels)] = float(m.group(3))
        except ValueError:
            pass
    return out


def error_body(code, message):
    return json.dumps({"error": {"code": code, "message": message}}).encode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "dq-ui-dev-proxy"
    # Set by main(): ui_dir, gateway, sessions, tokens {token: role}, auth (bool).
    cfg = None

    def log_message(self, fmt, *args):
        if self.cfg.verbose:
            sys.stderr.write("proxy: " + (fmt % args) + "\n")

    # ------------------------------------------------------------------ responses
    def send(self, status, body=b"", content_type="application/json", headers=()):
        self.send_response(status)
        if body or status not in (204, 304):
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def send_error_json(self, status, code, message, headers=()):
        self.send(status, error_body(code, message), headers=headers)

    # ------------------------------------------------------------------ request parts
    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def session_id(self):
        for part in (self.headers.get("Cookie") or "").split(";"):
            k, _, v = part.strip().partition("=")
            if k == "dq_session":
                return v
        return None

    def session(self):
        return self.cfg.sessions.get(self.session_id())

    def session_body(self, s):
        return json.dumps({"role": s["role"], "csrf": s["csrf"], "auth": self.cfg.auth}).encode()

    # ------------------------------------------------------------------ routing
    def do_GET(self):
        self.route()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def route(self):
        path = urllib.parse.urlsplit(self.path).path
        try:
            if path == "/ui/session":
                return self.ui_session()
            if path == "/ui" or path == "/":
                return self.send(308, headers=[("Location", "/ui/")])
            if path.startswith("/ui/"):
                return self.static(path)
            if path.startswith(API_PATHS):
                return self.api(path)
            self.send_error_json(404, "NOT_FOUND", f"no route for {path} (dev proxy)")
        except (ConnectionError, OSError, RuntimeError) as e:
            self.send_error_json(502, "BACKEND", f"dev proxy: the gateway did not answer: {e}")

    def static(self, path):
        if self.command not in ("GET", "HEAD"):
            return self.send_error_json(405, "INVALID_ARGUMENT", f"{self.command} {path}: only GET",
                                        headers=[("Allow", "GET, HEAD")])
        rest = path[len("/ui/"):]
        if rest.startswith("assets/"):
            name = rest[len("assets/"):]
            file = os.path.join(self.cfg.ui_dir, "assets", name)
            if not ASSET_NAME.match(name) or not os.path.isfile(file):
                return self.send_error_json(404, "NOT_FOUND", f"no asset {name!r}")
        else:
            file = os.path.join(self.cfg.ui_dir, "index.html")
        with open(file, "rb") as f:
            data = f.read()
        ext = os.path.splitext(file)[1]
        ctype = CONTENT_TYPES.get(ext) or mimetypes.guess_type(file)[0] or "application/octet-stream"
        self.send(200, data, ctype, headers=[
            ("Content-Security-Policy", CSP), ("Referrer-Policy", "same-origin"),
            ("Cache-Control", "no-cache"), ("X-Frame-Options", "DENY")])

    def ui_session(self):
        method = self.command
        if method in ("GET", "HEAD"):
            s = self.session()
            if not s and not self.cfg.auth:
                return self.sign_in("admin")
            if not s:
                return self.send_error_json(401, "UNAUTHORIZED", "not signed in: send the token")
            return self.send(200, self.session_body(s))
        if method == "POST":
            try:
                token = json.loads(self.body() or b"{}").get("token")
            except (ValueError, AttributeError):
                token = None
            if not isinstance(token, str) or not token:
                return self.send_error_json(401, "UNAUTHORIZED", "token is missing: send {\"token\": \"...\"}")
            for known, role in self.cfg.tokens.items():
                if hmac.compare_digest(token.encode(), known.encode()):
                    return self.sign_in(role)
            return self.send_error_json(401, "UNAUTHORIZED", "token is wrong: use the gateway's token or ui_readonly_token")
        if method == "DELETE":
            s = self.session()
            if not s:
                return self.send_error_json(401, "UNAUTHORIZED", "not signed in")
            if not hmac.compare_digest(self.headers.get("X-Dq-Csrf") or "", s["csrf"]):
                return self.send_error_json(403, "FORBIDDEN", "X-Dq-Csrf header is missing or wrong")
            self.cfg.sessions.drop(self.session_id())
            return self.send(204, headers=[("Set-Cookie", "dq_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")])
        self.send_error_json(405, "INVALID_ARGUMENT", f"{method} /ui/session: use GET, POST or DELETE",
                             headers=[("Allow", "GET, HEAD, POST, DELETE")])

    def sign_in(self, role):
        sid, s = self.cfg.sessions.create(role)
        self.send(200, self.session_body(s), headers=[
            ("Set-Cookie", f"dq_session={sid}; HttpOnly; SameSite=Strict; Path=/"),
            ("Cache-Control", "no-store")])

    def api(self, path):
        body = self.body()
        bearer = self.headers.get("Authorization")
        if path != "/healthz" and not bearer:
            s = self.session()
            if not s:
                return self.send_error_json(401, "UNAUTHORIZED", "not signed in: sign in at /ui/")
            if self.command not in ("GET", "HEAD"):
                if not hmac.compare_digest(self.headers.get("X-Dq-Csrf") or "", s["csrf"]):
                    return self.send_error_json(403, "FORBIDDEN", "X-Dq-Csrf header is missing or wrong: reload the page")
                if s["role"] != "admin":
                    return self.send_error_json(403, "FORBIDDEN", "a read-only session cannot change anything: sign in with the gateway's token")
        if path == "/v1/overview":
            if self.command not in ("GET", "HEAD"):
                return self.send_error_json(405, "INVALID_ARGUMENT", "/v1/overview: only GET",
                                            headers=[("Allow", "GET, HEAD")])
            return self.send(200, json.dumps(self.cfg.gateway.overview()).encode())
        headers = {"Content-Type": self.headers.get("Content-Type"),
                   "Accept": self.headers.get("Accept"), "Authorization": bearer}
        status, rheaders, rbody = self.cfg.gateway.request(self.command, self.path, body or None, headers)
        keep = [(k, v) for k, v in rheaders if k.lower() in ("allow", "retry-after", "location")]
        ctype = next((v for k, v in rheaders if k.lower() == "content-type"), "application/json")
        self.send(status, rbody, ctype, headers=keep)


def main():
    env = os.environ.get
    p = argparse.ArgumentParser(description="DEVELOPMENT TOOL: serves the admin UI and its session contract in front of a real dq-gateway.")
    p.add_argument("--listen", default=env("DQ_UI_PROXY_LISTEN", "127.0.0.1:8089"))
    p.add_argument("--gateway", default=env("DQ_UI_GATEWAY", "http://127.0.0.1:8088"))
    p.add_argument("--gateway-token", default=env("DQ_UI_GATEWAY_TOKEN", ""),
                   help="the gateway's `token`: sent as the bearer token, and the admin sign-in token unless --admin-token")
    p.add_argument("--admin-token", default=env("DQ_UI_TOKEN", ""))
    p.add_argument("--readonly-token", default=env("DQ_UI_READONLY_TOKEN", ""))
    p.add_argument("--no-auth", action="store_true",
                   help="act as a gateway without a token: every browser is an admin without signing in (auth false)")
    p.add_argument("--ui-dir", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args()

    admin = "" if args.no_auth else args.admin_token or args.gateway_token
    tokens = {t: r for t, r in ((admin, "admin"), (args.readonly_token, "viewer")) if t and not args.no_auth}
    host, _, port = args.listen.rpartition(":")
    cfg = argparse.Namespace(ui_dir=args.ui_dir, gateway=Gateway(args.gateway, args.gateway_token),
                             sessions=Sessions(), tokens=tokens, auth=bool(admin),
                             verbose=args.verbose)
    Handler.cfg = cfg
    server = http.server.ThreadingHTTPServer((host or "127.0.0.1", int(port)), Handler)
    server.daemon_threads = True
    sys.stderr.write(f"dq ui dev proxy (development only) on http://{host}:{server.server_port}/ui/ "
                     f"-> {args.gateway} (auth={'on' if cfg.auth else 'off: no token configured'})\n")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
