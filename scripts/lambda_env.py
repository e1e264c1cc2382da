"""The resources `template.yaml` would create, made on the running moto (scripts/stack.sh
start), and the environment the functions need to use them, written twice: for `cargo lambda
watch --env-file` (`--out`, one KEY=VALUE per line), and for `sam local invoke --env-vars`
(`--sam-out`, SAM's env.json: one object per function's logical id, holding only the
variables the template declares for it, since SAM passes no others).

    scripts/stack.sh lambda-env [--invoke-port 9000]

Names are the deployed ones under the stack name (`--stack`, default `seams-dev`), in
`--region` (default us-east-1). The answer state machine is the
real definition with the template's defaults; its Lambda tasks are invoked at
`cargo lambda watch`'s Invoke API (moto_server.py's function endpoint), so `answer` runs
retrieve, infer and output as served by `cargo lambda watch`. Idempotent: run it again after
every `scripts/stack.sh start` (a fresh moto).
"""

import argparse
import base64
import json
import os
import secrets
import sys
import urllib.request
from pathlib import Path

import boto3
import yaml

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "123456789012"


class _TemplateLoader(yaml.SafeLoader):
    """Reads CloudFormation's short-form tags (!Ref, !GetAtt, ...) as plain values."""


_TemplateLoader.add_multi_constructor("!", lambda loader, tag, node: None)


def template_parameter(template, name):
    return str(template["Parameters"][name].get("Default", ""))


def queue(sqs, name, dead_letter_arn=None):
    attributes = {"VisibilityTimeout": "60"}
    if dead_letter_arn:
        attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": "5"})
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def sam_environment(template, env):
    """Per function (logical id): the values `env` has for the variables the template declares
    for it, in Globals or its own Environment."""
    declared_everywhere = template["Globals"]["Function"]["Environment"]["Variables"].keys()
    functions = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        own = (resource["Properties"].get("Environment") or {}).get("Variables") or {}
        names = [*declared_everywhere, *own.keys()]
        functions[logical_id] = {name: env[name] for name in names if name in env}
    return functions


def write_private(path, text):
    """Written readable by its owner only: the file holds a signing key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as file:
        file.write(text)
    os.chmod(path, 0o600)  # an older file keeps its mode through O_CREAT


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoint", required=True, help="the moto server's URL")
    parser.add_argument("--invoke-port", type=int, default=9000, help="cargo lambda watch's invoke port")
    parser.add_argument("--out", required=True, help="the env file to write")
    parser.add_argument("--sam-out", help="the env.json to write for sam local invoke --env-vars")
    parser.add_argument("--stack", default="seams-dev", help="the stack name resources are named after")
    parser.add_argument("--region", default="us-east-1")
    args = parser.parse_args()
    stack, region = args.stack, args.region

    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region)
    client = lambda service: session.client(service, endpoint_url=args.endpoint)
    s3, sqs, events, sfn = client("s3"), client("sqs"), client("events"), client("stepfunctions")
    secretsmanager = client("secretsmanager")
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=_TemplateLoader)

    buckets = {role: f"{stack}-{role}" for role in ["raw", "records", "index", "output", "sessions"]}
    location = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    for bucket in buckets.values():
        try:
            s3.create_bucket(Bucket=bucket, **location)
        except s3.exceptions.BucketAlreadyOwnedByYou:
            pass
    _, process_dlq = queue(sqs, f"{stack}-process-dlq")
    process_url, _ = queue(sqs, f"{stack}-process", process_dlq)
    _, indexer_dlq = queue(sqs, f"{stack}-indexer-dlq")
    indexer_url, indexer_arn = queue(sqs, f"{stack}-indexer", indexer_dlq)
    output_dlq_url, _ = queue(sqs, f"{stack}-output-dlq")
    failures_url, _ = queue(sqs, f"{stack}-answer-failures")
    try:
        events.create_event_bus(Name=stack)
    except events.exceptions.ResourceAlreadyExistsException:
        pass
    rule = template["Resources"]["IndexerRule"]["Properties"]
    events.put_rule(Name=f"{stack}-indexer", EventBusName=stack, EventPattern=json.dumps(rule["EventPattern"]))
    events.put_targets(Rule=f"{stack}-indexer", EventBusName=stack, Targets=[{"Id": "indexer-queue", "Arn": indexer_arn}])

    # The answer workflow, its tasks at cargo lambda watch.
    arn = lambda name: f"arn:aws:lambda:{region}:{ACCOUNT}:function:{name}"
    substitutions = {
        "RetrieveFunctionArn": arn("retrieve"),
        "InferFunctionArn": arn("infer"),
        "OutputFunctionArn": arn("output"),
        "AnswerFunctionArn": arn("answer"),
        "FailuresQueueUrl": failures_url,
        "EventBusName": stack,
        "NoContextAnswer": template_parameter(template, "NoContextAnswer"),
        "DefaultInstructions": template_parameter(template, "DefaultInstructions"),
        "Guardrail": "off",
        "DecomposeQuestions": template_parameter(template, "DecomposeQuestions"),
        "ImplicitFilters": "off",
    }
    definition = (ROOT / "statemachines" / "answer.asl.json").read_text()
    for name, value in substitutions.items():
        # Values land inside JSON strings.
        definition = definition.replace("${" + name + "}", json.dumps(value)[1:-1])
    machine_name = f"{stack}-answer-express"
    existing = [m for m in sfn.list_state_machines()["stateMachines"] if m["name"] == machine_name]
    role = f"arn:aws:iam::{ACCOUNT}:role/{stack}-answer"
    if existing:
        machine = existing[0]["stateMachineArn"]
        sfn.update_state_machine(stateMachineArn=machine, definition=definition)
    else:
        machine = sfn.create_state_machine(name=machine_name, definition=definition, roleArn=role, type="EXPRESS")[
            "stateMachineArn"
        ]
    endpoint = json.dumps({"region": region, "endpoint": f"http://127.0.0.1:{args.invoke_port}"}).encode()
    request = urllib.request.Request(
        f"{args.endpoint}/moto-api/static/lambda-simple/endpoint",
        data=endpoint,
        method="POST",
        headers={"content-type": "application/json"},
    )
    urllib.request.urlopen(request).close()

    env = {
        "AWS_ENDPOINT_URL": args.endpoint,
        "AWS_REGION": region,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "SEAMS_STACK": stack,
        "SEAMS_RAW_BUCKET": buckets["raw"],
        "SEAMS_RECORDS_BUCKET": buckets["records"],
        "SEAMS_INDEX_BUCKET": buckets["index"],
        "SEAMS_OUTPUT_BUCKET": buckets["output"],
        "SEAMS_SESSIONS_BUCKET": buckets["sessions"],
        "SEAMS_PROCESS_QUEUE_URL": process_url,
        "SEAMS_OUTPUT_DLQ_URL": output_dlq_url,
        "SEAMS_EVENT_BUS_NAME": stack,
        "SEAMS_ANSWER_STATE_MACHINE_ARN": machine,
        "SEAMS_INGEST_FUNCTION": "ingest",
        "SEAMS_RETRIEVE_FUNCTION": "retrieve",
        "SEAMS_ANSWER_FUNCTION": "answer",
        # A local receiver is a webhook on loopback: let output reach it.
        "SEAMS_OUTBOUND_ALLOW_PRIVATE": "true",
        "SEAMS_WEBHOOK_SIGNING_SECRET": "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
    }
    out = Path(args.out)
    # Quoted: dotenv parsers (cargo lambda's among them) refuse a bare `=` or `/` in a value.
    write_private(out, "".join(f"{name}={json.dumps(value)}\n" for name, value in env.items()))
    print(f"lambda-env: the functions' resources on {args.endpoint}; their environment in {out}")
    if args.sam_out:
        # The template's signing key is a Secrets Manager secret: the deployed function reads
        # it by reference, and so does this one.
        signing, key = f"{stack}-webhook-signing", env["SEAMS_WEBHOOK_SIGNING_SECRET"]
        try:
            secretsmanager.create_secret(Name=signing, SecretString=key)
        except secretsmanager.exceptions.ResourceExistsException:
            secretsmanager.put_secret_value(SecretId=signing, SecretString=key)
        sam_env = {**env, "SEAMS_S3_FORCE_PATH_STYLE": "true", "SEAMS_WEBHOOK_SIGNING_SECRET_REF": signing}
        functions = sam_environment(template, sam_env)
        write_private(Path(args.sam_out), json.dumps(functions, indent=2) + "\n")
        print(f"lambda-env: sam local invoke's environment in {args.sam_out} ({len(functions)} functions)")
    print(f"lambda-env: the indexer's queue is {indexer_url}; the answer workflow invokes 127.0.0.1:{args.invoke_port}")


if __name__ == "__main__":
    sys.exit(main())
