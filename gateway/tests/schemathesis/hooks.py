"""Hooks of tests/it/schemathesis.rs (loaded through SCHEMATHESIS_HOOKS).

Some operations wait: `POST /v1/exchanges/{exchange}/call` up to `timeout_ms` (default 5000, at
most an hour) for a reply that no one sends in the fuzz run. A valid wait is cut short so that a
run stays short; an invalid one is left alone, for the gateway must still refuse it.
"""

import schemathesis

# operation -> (field, lowest valid, highest valid, the wait used instead)
WAITS = {
    "POST /v1/exchanges/{exchange}/call": ("timeout_ms", 1, 3_600_000, 50),
    "POST /v1/topics/{topic}/reserve": ("timeout", 0, 60, 0.05),
}


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@schemathesis.hook
def before_call(context, case, kwargs):
    wait = WAITS.get(case.operation.label)
    if wait is None or not isinstance(case.body, dict):
        return
    field, lowest, highest, short = wait
    value = case.body.get(field)
    if value is None:
        case.body[field] = short
    elif _is_number(value) and lowest <= value <= highest:
        case.body[field] = min(value, short)
