"""`python -m scripts.preflight --stack NAME`: can `pulumi up` of this stack start?

Renders the stack (the program under the mock engine, as scripts.render does), then checks the
GCP project against that render, all at once: credentials, permissions, organization policies,
APIs, quotas, the zone, admin access, pinned images and signing key. Each problem is one line
with its fix (exit 2). See docs/gcp-deploy.md#what-preflight-checks.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from minaperf.cloud.gcp_api import GcpApi
from minaperf.cloud.gcp_credentials import API_BASE_ENV, access_token
from minaperf.cloud.preflight import AUTH_PLUGIN, Environment, PreflightReport, Problem, preflight
from minaperf.model.config import ConfigError, ExperimentConfig, GkePlatform, one_line
from minaperf.model.stack_file import (
    PLACEHOLDER_PROJECT,
    StackInput,
    UsageError,
    read_stack_input,
    validate,
)
from scripts.cli import EXIT_BAD_INPUT, OneLineParser, bad_input, stack_name
from scripts.render import resource_records

IPV4_ECHO = "https://ifconfig.me/ip"
"""Answers with the caller's address as plain text; asked over IPv4 only (see public_ipv4)."""


def public_ipv4(url: str = IPV4_ECHO) -> str:
    """This machine's public address as the internet sees it over IPv4 (bound to 0.0.0.0, so
    the connection cannot go out over IPv6, like `curl -4`)."""
    transport = httpx.HTTPTransport(local_address="0.0.0.0")  # noqa: S104 (binds the client)
    try:
        with httpx.Client(transport=transport, timeout=10.0) as client:
            response = client.get(url, headers={"Accept": "text/plain"})
            response.raise_for_status()
            return response.text
    except httpx.HTTPError as error:
        raise OSError(f"{url}: {error}") from None


def rendered_resources(stack_input: StackInput) -> list[dict[str, Any]]:
    """The stack's resources as `python -m scripts.render` records them (secrets masked): what
    `pulumi up` would create, so preflight checks exactly what they need."""
    from scripts.engine import run_program

    run = run_program(stack_input.name, stack_input.config, stack_input.secret_keys)
    return resource_records(run, show_secrets=False)


def check(
    config: ExperimentConfig,
    resources: Sequence[Mapping[str, Any]],
    *,
    ipv4_url: str = IPV4_ECHO,
) -> PreflightReport:
    token, source = access_token()
    env = Environment(
        credentials=source if token else None,
        auth_plugin=shutil.which(AUTH_PLUGIN) is not None,
        public_ipv4=lambda: public_ipv4(ipv4_url),
    )
    api = GcpApi(token, base_url=os.environ.get(API_BASE_ENV)) if token else None
    try:
        report = preflight(config, env, api, resources=resources)
    finally:
        if api is not None:
            api.close()
    if token is None and source:
        report.notes.append(f"credentials: {source}")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(
        prog="python -m scripts.preflight",
        description="Check a GCP project before `pulumi up` of a stack; exit 2 with the fixes.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--stack", type=stack_name, help="read Pulumi.<STACK>.yaml in the current directory"
    )
    source.add_argument("--config", type=Path, help="read a stack config file (stacks/*.yaml)")
    parser.add_argument("--ipv4-url", default=IPV4_ECHO, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        # Like `pulumi`: the stack's settings file in the current (project) directory.
        config_file = Path.cwd() / f"Pulumi.{args.stack}.yaml" if args.stack else args.config
        stack_input = read_stack_input(stack=None, config_file=config_file, overrides=())
        config = validate(stack_input)
    except ConfigError as error:
        return bad_input(error, label="config error")
    except UsageError as error:
        return bad_input(one_line(str(error)))
    platform = config.platform
    if isinstance(platform, GkePlatform) and platform.project == PLACEHOLDER_PROJECT:
        problem = Problem(
            "config", "no GCP project is set", "pulumi config set gcp:project <your-project-id>"
        )
        print(problem.line(), file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        resources = rendered_resources(stack_input) if isinstance(platform, GkePlatform) else []
    except Exception as error:
        message = one_line(str(error))
        if not message.startswith("config error: "):
            raise
        return bad_input(message, label="preflight")
    report = check(config, resources, ipv4_url=args.ipv4_url)
    if report.quotas:
        print("\n".join(report.table()))
    for note in report.notes:
        print(f"note: {note}")
    for problem in report.problems:
        print(problem.line(), file=sys.stderr)
    if report.problems:
        print(f"preflight: {len(report.problems)} problem(s); fix them before `pulumi up`")
        return EXIT_BAD_INPUT
    print(f"preflight: project {getattr(platform, 'project', '-')} is ready for `pulumi up`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
