"""Schemathesis hooks for scripts/check-control-api.sh (loaded through SCHEMATHESIS_HOOKS).

POST /v1/devices/{id}/wait blocks for as long as its `timeout` says (up to 3600 s; 10 s
when the body has none) on a device that raises nothing, which is correct and outlasts the
run's 30 s request timeout: generated waits are cut to 2 s, and a wait with no timeout (or
no body) is given one, so a slow answer is the daemon's fault, not the case's, and the
stateful phase's chains of calls do not spend 10 s per wait (one seed took 102 s).
"""
import schemathesis

WAIT_PATH = "/v1/devices/{id}/wait"
LONGEST_WAIT = 2


@schemathesis.hook
def before_call(context, case, kwargs):
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
