"""Hooks of tests/schemathesis.rs (loaded through SCHEMATHESIS_HOOKS).

`POST /v1/exchanges/{exchange}/call` waits up to `timeout_ms` (default 5000, at most an hour) for
a reply that no one sends in the fuzz run: a valid wait is cut to 50 ms so that a run stays
short. Invalid values are left alone: the gateway must still refuse them.
"""

import schemathesis

WAIT_MS = 50


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.operation.label != "POST /v1/exchanges/{exchange}/call":
        return
    body = case.body
    if not isinstance(body, dict):
        return
    wait = body.get("timeout_ms", None)
    if "timeout_ms" not in body or wait is None:
        body["timeout_ms"] = WAIT_MS
    elif isinstance(wait, int) and not isinstance(wait, bool) and 1 <= wait <= 3_600_000:
        body["timeout_ms"] = min(wait, WAIT_MS)
