"""Bastion's server for the authorization benchmark, optionally with enforcement off.

`--no-enforcement` swaps the authorizer for one that allows everything (after recording
the decision, so handlers still pass the gateway's "did you authorize?" check). This
exists only here, to measure what enforcement costs; Bastion itself has no such switch.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bastion.config import load_settings
from bastion.gateway.runtime import build_runtime
from bastion.gateway.server import serve


class AllowAll:
    def __call__(self, ctx, action, resources, conditions=None, resource_policy=None) -> None:
        ctx.authz.decisions.append((action, tuple(resources), True))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--no-enforcement", action="store_true")
    args = parser.parse_args()
    settings = load_settings(
        {"data_dir": Path(args.data_dir), "port": args.port, "log_level": "warning"}
    )
    runtime = build_runtime(settings)
    if args.no_enforcement:
        runtime.authorizer = AllowAll()  # type: ignore[assignment]
    serve(runtime)


if __name__ == "__main__":
    main()
