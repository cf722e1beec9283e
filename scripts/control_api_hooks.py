"""Schemathesis hooks for scripts/check-control-api.sh (loaded through SCHEMATHESIS_HOOKS).

POST /v1/devices/{id}/wait blocks for as long as its `timeout` says (up to 3600 s; 10 s
when the body has none) on a device that raises nothing, which is correct and outlasts the
run's 30 s request timeout: generated waits are cut to 2 s, and a wait with no timeout (or
no body) is given one, so a slow answer is the daemon's fault, not the case's, and the
stateful phase's chains of calls do not spend 10 s per wait (one seed took 102 s).

POST /v1/devices/{id}/trigger with a rate answers once the last interrupt was raised:
count / rate seconds, up to the API's 3600 (one seed drew 133,708 at 0.33 per second, and
the run's 30 s request timeout failed it). Generated paced triggers keep their count and
are given a rate that raises it within 2 s.
"""
import schemathesis

WAIT_PATH = "/v1/devices/{id}/wait"
TRIGGER_PATH = "/v1/devices/{id}/trigger"
LONGEST_WAIT = 2


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def shorten_trigger(body):
    if not isinstance(body, dict):
        return
    count, rate = body.get("count", 1), body.get("rate")
    if is_number(count) and is_number(rate) and count >= 1 and 0 < rate and count / rate > LONGEST_WAIT:
        body["rate"] = min(1_000_000, count / LONGEST_WAIT)


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.operation.path == TRIGGER_PATH:
        shorten_trigger(case.body)
        return
    if case.operation.path != WAIT_PATH:
        return
    if case.body is None:
        case.body = {"timeout": LONGEST_WAIT}
        return
    if not isinstance(case.body, dict):
        return
    timeout = case.body.get("timeout")
    if timeout is None or (isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout > LONGEST_WAIT):
        case.body["timeout"] = LONGEST_WAIT
