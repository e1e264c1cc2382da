"""moto's server, with one addition the answer workflow's tests need.

moto's Docker-free Lambda (`lambda: use_docker: false`) returns queued results
(`POST /moto-api/static/lambda-simple/response`) but can never fail an invocation, so a
state machine's Retry and Catch could not be exercised. Real Lambda answers a function error
with the payload `{"errorType": ..., "errorMessage": ...}` and the header
`X-Amz-Function-Error: Unhandled`; here a queued result of exactly that shape gets the
header too, so the interpreter sees the error as Step Functions would (`Seams.Transient`, ...).
moto 5.2.5 does not serve StartSyncExecution either, which `POST /answer`'s function calls:
here it starts the execution in moto's own interpreter and answers when it has ended, with
the fields Step Functions returns (status SUCCEEDED, FAILED or TIMED_OUT; output or
error and cause). And queued Lambda results posted with `"replace": true` replace what is
left in that region's queue (and any function endpoint it had, below), so a test that reuses
a region starts from its own results.

Functions can also run for real: `POST /moto-api/static/lambda-simple/endpoint` with
`{"region": ..., "endpoint": "http://127.0.0.1:9001"}` sends that region's invocations to a
server of Lambda's Invoke API (`POST /2015-03-31/functions/<name>/invocations`, as
`cargo lambda watch` and `sam local start-lambda` serve it), so the state machine moto runs
calls the real handlers. A function error passes through as Lambda reports it; an endpoint
that answers 429 is Lambda's `TooManyRequestsException`, and one that fails otherwise
(5xx, a reset or dropped connection) is `ServiceException`, as Step Functions then names them
`Lambda.TooManyRequestsException` and `Lambda.ServiceException`.

Everything else is moto as released.
"""

import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

from moto.awslambda_simple.models import LambdaSimpleBackend, lambda_simple_backends
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.exceptions import JsonRESTError
from moto.moto_api._internal.responses import MotoAPIResponse
from moto.core.responses import ActionResult
from moto.server import main
from moto.stepfunctions.exceptions import ValidationException
from moto.stepfunctions.responses import StepFunctionResponse

# Express executions may run for five minutes; a synchronous one that has not ended by then
# is TIMED_OUT, as in Step Functions.
SYNC_EXECUTION_LIMIT_SECONDS = 300

_invoke = LambdaSimpleBackend.invoke


# (account, region) -> the Invoke API endpoint that region's functions run at.
_function_endpoints = {}
# Longer than any function's timeout: the endpoint, not moto, decides when a call ends.
INVOKE_TIMEOUT_SECONDS = 900


class _InvokeFailed(JsonRESTError):
    def __init__(self, status, error_type, message):
        super().__init__(error_type, message)
        self.code = status


def _invoke_at(endpoint, function_name, body, response_headers):
    # An ARN (`...:function:<name>[:qualifier]`) or a bare name.
    name = function_name.split(":function:")[-1].split(":")[0]
    url = f"{endpoint}/2015-03-31/functions/{urllib.parse.quote(name)}/invocations"
    data = body if isinstance(body, bytes) else (body or "{}").encode()
    request = urllib.request.Request(url, data=data, method="POST", headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=INVOKE_TIMEOUT_SECONDS) as answer:
            payload = answer.read()
            error = answer.headers.get("x-amz-function-error")
    except urllib.error.HTTPError as refused:
        if refused.code == 429:
            raise _InvokeFailed(429, "TooManyRequestsException", f"{name}: rate exceeded")
        raise _InvokeFailed(500, "ServiceException", f"{name}: the function's endpoint answered {refused.code}")
    except Exception as failed:  # a reset, a dropped or refused connection, a truncated answer
        raise _InvokeFailed(500, "ServiceException", f"{name}: {type(failed).__name__}")
    if error:
        response_headers["x-amz-function-error"] = error
    return payload


def _invoke_with_function_errors(self, function_name, qualifier, body, headers, response_headers):
    endpoint = _function_endpoints.get((self.account_id, self.region_name))
    if endpoint:
        return _invoke_at(endpoint, function_name, body, response_headers)
    payload = _invoke(self, function_name, qualifier, body, headers, response_headers)
    try:
        parsed = json.loads(payload)
    except (TypeError, ValueError):
        return payload
    if isinstance(parsed, dict) and set(parsed) == {"errorType", "errorMessage"}:
        response_headers["x-amz-function-error"] = "Unhandled"
    return payload


LambdaSimpleBackend.invoke = _invoke_with_function_errors


def _start_sync_execution(self):
    arn = self._get_param("stateMachineArn")
    backend = self.stepfunction_backend
    machine = backend.describe_state_machine(arn)
    if getattr(machine, "type", "STANDARD") != "EXPRESS":
        raise ValidationException("StartSyncExecution is only supported for EXPRESS state machines")
    name = self._get_param("name") or str(uuid.uuid4())
    execution = backend.start_execution(arn, name, self._get_param("input", if_none="{}"))
    deadline = time.monotonic() + SYNC_EXECUTION_LIMIT_SECONDS
    described = backend.describe_execution(execution.execution_arn)
    while _status(described) == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.002)
        described = backend.describe_execution(execution.execution_arn)
    status = _status(described) if _status(described) in ("SUCCEEDED", "FAILED") else "TIMED_OUT"
    response = {
        "executionArn": described.execution_arn,
        "stateMachineArn": arn,
        "name": described.name,
        "startDate": described.start_date,
        "stopDate": described.stop_date or described.start_date,
        "status": status,
        "input": described.execution_input,
        "inputDetails": {"included": True},
        "billingDetails": {"billedMemoryUsedInMB": 64, "billedDurationInMilliseconds": 100},
    }
    if status == "SUCCEEDED":
        output = described.output
        response["output"] = output if isinstance(output, str) else json.dumps(output)
        response["outputDetails"] = {"included": True}
    else:
        if described.error is not None:
            response["error"] = described.error
        if described.cause is not None:
            response["cause"] = described.cause
    return ActionResult(response)


def _status(execution):
    return getattr(execution.status, "value", execution.status)


StepFunctionResponse.start_sync_execution = _start_sync_execution


def _set_lambda_simple_result(self, request, full_url, headers):
    body = self._get_body(headers, request)
    backend = lambda_simple_backends[body.get("account_id", DEFAULT_ACCOUNT_ID)][body.get("region", "us-east-1")]
    if body.get("replace"):
        backend.lambda_simple_results_queue.clear()
        # A test that reuses a region gets its own results, not an earlier test's endpoint.
        _function_endpoints.pop((backend.account_id, backend.region_name), None)
    backend.lambda_simple_results_queue.extend(body.get("results", []))
    return 201, {}, ""


MotoAPIResponse.set_lambda_simple_result = _set_lambda_simple_result

def _set_function_endpoint(self, request, full_url, headers):
    body = self._get_body(headers, request)
    key = (body.get("account_id", DEFAULT_ACCOUNT_ID), body.get("region", "us-east-1"))
    endpoint = body.get("endpoint")
    if endpoint:
        _function_endpoints[key] = endpoint.rstrip("/")
    else:
        _function_endpoints.pop(key, None)
    return 201, {}, ""


MotoAPIResponse.set_function_endpoint = _set_function_endpoint


def _route_function_endpoint():
    # Imported here, after the patches above: the module binds its handlers when imported.
    from moto.moto_api._internal import urls

    urls.url_paths["{0}/moto-api/static/lambda-simple/endpoint"] = urls.response_instance.set_function_endpoint


if __name__ == "__main__":
    _route_function_endpoint()
    sys.exit(main())
