"""`cargo lambda deploy` deploys each function as `sam deploy` does: same memory, timeout and
tracing. Reads the `cargo lambda deploy --dry --output-format json` of each function (one
file per binary, named <binary>.json, in the directory given) and template.yaml.

  python scripts/check_deploy_metadata.py template.yaml <dry-run directory>

A template value chosen by a condition (`!If [EmbedsLocally, 900, 120]`) is taken for the
parameters' defaults, as `sam deploy` without overrides would.
"""

import json
import pathlib
import sys

from cfnlint.decode import decode_str


def resolve(value, template):
    """A template value for the parameters' defaults (Fn::If over Fn::Equals of a Ref)."""
    if isinstance(value, dict) and "Fn::If" in value:
        condition, when_true, when_false = value["Fn::If"]
        left, right = template["Conditions"][condition]["Fn::Equals"]
        default = template["Parameters"][left["Ref"]].get("Default")
        return resolve(when_true if default == right else when_false, template)
    return value


def expected(template):
    """{binary: {memory, timeout, tracing}} as the template deploys each function."""
    defaults = template.get("Globals", {}).get("Function", {})
    functions = {}
    for resource in template["Resources"].values():
        binary = resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
        if resource.get("Type") != "AWS::Serverless::Function" or not binary:
            continue
        properties = {**defaults, **resource["Properties"]}
        functions[binary] = {
            "memory": resolve(properties["MemorySize"], template),
            "timeout": resolve(properties["Timeout"], template),
            "tracing": resolve(properties["Tracing"], template),
        }
    return functions


def violations(template, dry_runs):
    found = []
    for binary, want in sorted(expected(template).items()):
        path = dry_runs / f"{binary}.json"
        if not path.exists():
            found.append(f"{binary}: no dry run in {dry_runs}")
            continue
        text = path.read_text()
        # cargo lambda prints a progress line before the JSON.
        config = json.loads(text[text.index("\n{") + 1 if not text.startswith("{") else 0:])["config"]
        got = {"memory": config.get("memory"), "timeout": config.get("timeout"), "tracing": config.get("tracing")}
        if got != want:
            found.append(f"{binary}: Cargo.toml's deploy metadata gives {got}, template.yaml {want}")
    return found


def main():
    template = decode_str(pathlib.Path(sys.argv[1]).read_text())[0]
    found = violations(template, pathlib.Path(sys.argv[2]))
    for violation in found:
        print(violation)
    if found:
        sys.exit(1)
    print(f"deploy metadata: {len(expected(template))} functions as in the template")


if __name__ == "__main__":
    main()
