"""Least-privilege, dead-letter and safe-deploy checks on template.yaml that cfn-lint does not
make. They read the template as CloudFormation runs it, after SAM's transform, so the roles,
aliases and event sources SAM generates are checked too.

  python scripts/check_template.py template.yaml   fails (exit 1) listing every violation
  python scripts/check_template.py --self-test     shows each check catches what it should

1. No IAM statement allows `Resource: "*"` for an action that supports resource-level
   permissions (only the actions in RESOURCELESS_ACTIONS may have "*").
2. Every SQS queue has a redrive policy to a dead-letter queue, or is itself a dead-letter
   destination (a redrive target, a rule's or function's DeadLetterConfig/OnFailure, or a
   state machine's failures queue).
3. Every function is deployed through its `live` alias with a CodeDeploy deployment group that
   watches at least one alarm, and nothing invokes a function except through that alias
   (a caller of the bare function would bypass the canary and its rollback). Only the
   function's own version, alias, alias-scoped config, log group and alarms name it bare.
"""

import copy
import re
import sys

from cfnlint.decode import decode_str
from cfnlint.template import Template
from cfnlint.template.transforms import Transform

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
    """Logical ids named by Ref, Fn::GetAtt or a ${...} in Fn::Sub under node."""
    for mapping in mappings(node):
        if isinstance(mapping.get("Ref"), str):
            yield mapping["Ref"]
        if "Fn::GetAtt" in mapping:
            target = mapping["Fn::GetAtt"]
            yield target[0] if isinstance(target, list) else str(target).split(".")[0]
        if "Fn::Sub" in mapping:
            text = mapping["Fn::Sub"]
            text = text[0] if isinstance(text, list) else text
            if isinstance(text, str):
                yield from (name.split(".")[0] for name in re.findall(r"\$\{([^}!]+)\}", text))


def dead_letter_targets(node):
    """Logical ids named where a resource says where failed messages go."""
    for mapping in mappings(node):
        for key in DEAD_LETTER_KEYS & mapping.keys():
            yield from references(mapping[key])


# What may name a function without its alias: what describes or configures the function itself.
NAMES_THE_BARE_FUNCTION = {
    "AWS::Lambda::Version", "AWS::Lambda::Alias", "AWS::Lambda::EventInvokeConfig", "AWS::Lambda::Url",
    "AWS::Logs::LogGroup", "AWS::CloudWatch::Alarm",
}


def unsafe_deploys(resources):
    found = []
    functions = {name for name, r in resources.items() if r.get("Type") == "AWS::Lambda::Function"}
    aliased = {
        r["Properties"]["FunctionName"].get("Ref"): r
        for r in resources.values()
        if r.get("Type") == "AWS::Lambda::Alias" and r["Properties"].get("Name") == "live"
    }
    groups = {name: r for name, r in resources.items() if r.get("Type") == "AWS::CodeDeploy::DeploymentGroup"}
    for function in sorted(functions):
        alias = aliased.get(function)
        if alias is None:
            found.append(f"{function}: no live alias (AutoPublishAlias)")
            continue
        group = groups.get(alias.get("UpdatePolicy", {}).get("CodeDeployLambdaAliasUpdate", {})
                           .get("DeploymentGroupName", {}).get("Ref"))
        if group is None or not group["Properties"].get("AlarmConfiguration", {}).get("Alarms"):
            found.append(f"{function}: its deployments watch no alarm (DeploymentPreference Alarms)")
    for name, resource in resources.items():
        if resource.get("Type") in NAMES_THE_BARE_FUNCTION:
            continue
        for function in sorted(functions & set(references(resource))):
            found.append(f"{name}: names {function} instead of its live alias")
    return found


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
    return found + unsafe_deploys(resources)


def load(path):
    with open(path, encoding="utf-8") as file:
        template, matches = decode_str(file.read())
    if matches:
        sys.exit(f"{path}: {matches}")
    return template


def expanded(template):
    """The template as CloudFormation runs it, after SAM's transform."""
    cfn = Template("template.yaml", copy.deepcopy(template), ["us-east-1"])
    matches = Transform().transform(cfn)
    if matches:
        sys.exit(f"template transform: {matches}")
    return cfn.template


def self_test():
    template = load("template.yaml")
    assert violations(expanded(template)) == [], violations(expanded(template))
    wide = copy.deepcopy(template)
    wide["Resources"]["IngestFunction"]["Properties"]["Policies"].append(
        {"Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}]})
    assert violations(expanded(wide)) == ['IngestFunctionRole: Resource "*" for s3:GetObject'], violations(expanded(wide))
    orphan = copy.deepcopy(template)
    orphan["Resources"]["StrayQueue"] = {"Type": "AWS::SQS::Queue", "Properties": {"SqsManagedSseEnabled": True}}
    assert violations(expanded(orphan)) == ["StrayQueue: a queue with no dead-letter queue that is not one itself"]
    undrained = copy.deepcopy(template)
    del undrained["Resources"]["ProcessQueue"]["Properties"]["RedrivePolicy"]
    assert violations(expanded(undrained)) == [
        "ProcessQueue: a queue with no dead-letter queue that is not one itself",
        "ProcessDeadLetterQueue: a queue with no dead-letter queue that is not one itself",
    ], violations(expanded(undrained))
    bare = copy.deepcopy(template)
    bare["Resources"]["GatewayIntegration"]["Properties"]["IntegrationUri"] = {"Fn::GetAtt": ["GatewayFunction", "Arn"]}
    bare["Resources"]["AnswerExpressStateMachine"]["Properties"]["DefinitionSubstitutions"]["InferFunctionArn"] = {
        "Fn::Sub": "arn:aws:lambda:${AWS::Region}:${AWS::AccountId}:function:${InferFunction}"}
    assert violations(expanded(bare)) == [
        "GatewayIntegration: names GatewayFunction instead of its live alias",
        "AnswerExpressStateMachine: names InferFunction instead of its live alias",
    ], violations(expanded(bare))
    unwatched = copy.deepcopy(template)
    del unwatched["Resources"]["AnswerFunction"]["Properties"]["DeploymentPreference"]
    assert violations(expanded(unwatched)) == [
        "AnswerFunction: its deployments watch no alarm (DeploymentPreference Alarms)"], violations(expanded(unwatched))
    unaliased = copy.deepcopy(template)
    unaliased["Globals"]["Function"]["AutoPublishAlias"] = "current"
    assert len(violations(expanded(unaliased))) == 9, violations(expanded(unaliased))
    print("check_template self-test: each check catches its violation")


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-test"]:
        self_test()
    else:
        problems = violations(expanded(load(sys.argv[1] if len(sys.argv) > 1 else "template.yaml")))
        for problem in problems:
            print(problem)
        if problems:
            sys.exit(1)
        print("template: least privilege, dead-letter queues and safe deploys hold")
