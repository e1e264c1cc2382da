"""moto's server, with one addition the answer workflow's tests need.

moto's Docker-free Lambda (`lambda: use_docker: false`) returns queued results
(`POST /moto-api/static/lambda-simple/response`) but can never fail an invocation, so a
state machine's Retry and Catch could not be exercised. Real Lambda answers a function error
with the payload `{"errorType": ..., "errorMessage": ...}` and the header
`X-Amz-Function-Error: Unhandled`; here a queued result of exactly that shape gets the
header too, so the interpreter sees the error as Step Functions would (`Seams.Transient`, ...).
Everything else is moto as released.
"""

import json
import sys

from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.server import main

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

if __name__ == "__main__":
    sys.exit(main())
