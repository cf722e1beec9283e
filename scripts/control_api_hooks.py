"""Schemathesis hooks for scripts/check-control-api.sh (loaded through SCHEMATHESIS_HOOKS).

POST /v1/devices/{id}/wait blocks for as long as its `timeout` says (up to 3600 s) on a
device that raises nothing, which is correct and outlasts the run's 30 s request timeout:
generated waits are cut to 2 s, so a slow answer is the daemon's fault, not the case's.
"""
import schemathesis

WAIT_PATH = "/v1/devices/{id}/wait"
LONGEST_WAIT = 2


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.operation.path != WAIT_PATH or not isinstance(case.body, dict):
        return
    timeout = case.body.get("timeout")
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout > LONGEST_WAIT:
        case.body["timeout"] = LONGEST_WAIT
