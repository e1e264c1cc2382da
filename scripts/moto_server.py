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
left in that region's queue, so a test that reuses a region starts from its own results.

Everything else is moto as released.
"""

import json
import sys
import time
import uuid

from moto.awslambda_simple.models import LambdaSimpleBackend, lambda_simple_backends
from moto.core import DEFAULT_ACCOUNT_ID
from moto.moto_api._internal.responses import MotoAPIResponse
from moto.core.responses import ActionResult
from moto.server import main
from moto.stepfunctions.exceptions import ValidationException
from moto.stepfunctions.responses import StepFunctionResponse

# Express executions may run for five minutes; a synchronous one that has not ended by then
# is TIMED_OUT, as in Step Functions.
SYNC_EXECUTION_LIMIT_SECONDS = 300

_invoke = LambdaSimpleBackend.invoke


def _invoke_with_function_errors(self, function_name, qualifier, body, headers, response_headers):
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
    backend.lambda_simple_results_queue.extend(body.get("results", []))
    return 201, {}, ""


MotoAPIResponse.set_lambda_simple_result = _set_lambda_simple_result

if __name__ == "__main__":
    sys.exit(main())
