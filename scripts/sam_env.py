"""The environment `sam local invoke` gives each function of template.yaml, worked out by SAM
CLI's own code (the template's intrinsics resolved as SAM resolves them locally, then the
`--env-vars` file applied), without Docker. Prints one JSON object: logical id -> variables.

    .tools/venv/bin/python scripts/sam_env.py [--env-vars .tools/run/env.json]

`tests/tests/lambda_env.rs` loads each function's configuration from it.
"""

import argparse
import json
import os
import sys
from pathlib import Path

from samcli.commands.local.lib.local_lambda import LocalLambdaRunner
from samcli.lib.providers.sam_function_provider import SamFunctionProvider
from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider

ROOT = Path(__file__).resolve().parent.parent


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--template", default=str(ROOT / "template.yaml"))
    parser.add_argument("--env-vars", help="an env.json, as sam local invoke --env-vars takes it")
    args = parser.parse_args()
    overrides = json.loads(Path(args.env_vars).read_text()) if args.env_vars else None
    # The functions' own variables only: SAM adds the shell's values of declared names too.
    os.environ.clear()
    stacks, _ = SamLocalStackProvider.get_stacks(args.template)
    provider = SamFunctionProvider(stacks)
    # local_runtime (Docker) is not used to work out the environment.
    runner = LocalLambdaRunner(local_runtime=None, function_provider=provider, cwd=str(ROOT), real_path=str(ROOT),
                               env_vars_values=overrides)
    environments = {function.name: runner.get_invoke_config(function).env_vars.resolve()
                    for function in provider.get_all()}
    json.dump(environments, sys.stdout, indent=2, sort_keys=True)
    print()


if __name__ == "__main__":
    sys.exit(main())
