"""Least-privilege and dead-letter checks on template.yaml that cfn-lint does not make.

  python scripts/check_template.py template.yaml   fails (exit 1) listing every violation
  python scripts/check_template.py --self-test     shows each check catches what it should

1. No IAM statement allows `Resource: "*"` for an action that supports resource-level
   permissions (only the actions in RESOURCELESS_ACTIONS may have "*").
2. Every SQS queue has a redrive policy to a dead-letter queue, or is itself a dead-letter
   destination (a redrive target, a rule's or function's DeadLetterConfig/OnFailure, or a
   state machine's failures queue).
"""

import copy
import sys

from cfnlint.decode import decode_str

# Actions AWS documents as supporting no resource-level permissions ("*" only).
RESOURCELESS_ACTIONS = {
    "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
    "xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets",
    "cloudwatch:PutMetricData",
    "bedrock:Rerank",
    "ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses",
}

# Where a queue is named as the place failed messages go.
DEAD_LETTER_KEYS = {"deadLetterTargetArn", "DeadLetterConfig", "OnFailure", "FailuresQueueUrl"}


def as_list(value):
    return value if isinstance(value, list) else [value]


def mappings(node):
    """Every mapping anywhere under node, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from mappings(value)
    elif isinstance(node, list):
        for value in node:
            yield from mappings(value)


def statements(node):
    """Every IAM statement (a mapping with Effect and Action) under node."""
    return (m for m in mappings(node) if "Effect" in m and ("Action" in m or "NotAction" in m))


def references(node):
    """Logical ids named by Ref or Fn::GetAtt under node."""
    for mapping in mappings(node):
        if isinstance(mapping.get("Ref"), str):
            yield mapping["Ref"]
        if "Fn::GetAtt" in mapping:
            target = mapping["Fn::GetAtt"]
            yield target[0] if isinstance(target, list) else str(target).split(".")[0]


def dead_letter_targets(node):
    """Logical ids named where a resource says where failed messages go."""
    for mapping in mappings(node):
        for key in DEAD_LETTER_KEYS & mapping.keys():
            yield from references(mapping[key])


def violations(template):
    found = []
    resources = template.get("Resources", {})
    for name, resource in resources.items():
        for statement in statements(resource.get("Properties", {})):
            if statement.get("Effect") != "Allow" or "*" not in as_list(statement.get("Resource")):
                continue
            scoped = [a for a in as_list(statement.get("Action", [])) if a not in RESOURCELESS_ACTIONS]
            if scoped:
                found.append(f'{name}: Resource "*" for {", ".join(map(str, scoped))}')
    targets = set(dead_letter_targets(resources))
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::SQS::Queue":
            continue
        if "RedrivePolicy" not in resource.get("Properties", {}) and name not in targets:
            found.append(f"{name}: a queue with no dead-letter queue that is not one itself")
    return found


def load(path):
    with open(path, encoding="utf-8") as file:
        template, matches = decode_str(file.read())
    if matches:
        sys.exit(f"{path}: {matches}")
    return template


def self_test():
    template = load("template.yaml")
    assert violations(template) == [], violations(template)
    wide = copy.deepcopy(template)
    wide["Resources"]["IngestFunction"]["Properties"]["Policies"].append(
        {"Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}]})
    assert violations(wide) == ['IngestFunction: Resource "*" for s3:GetObject'], violations(wide)
    orphan = copy.deepcopy(template)
    orphan["Resources"]["StrayQueue"] = {"Type": "AWS::SQS::Queue", "Properties": {"SqsManagedSseEnabled": True}}
    assert violations(orphan) == ["StrayQueue: a queue with no dead-letter queue that is not one itself"]
    undrained = copy.deepcopy(template)
    del undrained["Resources"]["ProcessQueue"]["Properties"]["RedrivePolicy"]
    assert violations(undrained) == [
        "ProcessQueue: a queue with no dead-letter queue that is not one itself",
        "ProcessDeadLetterQueue: a queue with no dead-letter queue that is not one itself",
    ], violations(undrained)
    print("check_template self-test: each check catches its violation")


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-test"]:
        self_test()
    else:
        problems = violations(load(sys.argv[1] if len(sys.argv) > 1 else "template.yaml"))
        for problem in problems:
            print(problem)
        if problems:
            sys.exit(1)
        print("template: least privilege and dead-letter queues hold")
