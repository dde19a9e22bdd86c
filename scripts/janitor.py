"""Find (and with --delete, remove) experiments that outlived their expiry.

Experiments are meant to be short; forgotten ones cost money. Stacks expire by their `expiresAt`
output; cloud leftovers by their expiry label (`expiry` on GCP, `mina-itn/expiry` on Kubernetes).

    python -m scripts.janitor [--delete] [--now ISO] [--no-gcloud] [--no-kubectl]

Read-only by default. `--delete` runs `pulumi destroy --yes --stack S` for expired stacks, and
deletes expired GCE instances and namespaces only when no stack owns their experiment (a stack's
own resources go with its destroy). Disks and GKE clusters are only reported: a kept disk may hold
an experiment's data on purpose, and a cluster deserves a human look.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

GCP_LABEL_EXPERIMENT = "experiment"
GCP_LABEL_EXPIRY = "expiry"
K8S_LABEL_EXPERIMENT = "mina-itn/experiment"
K8S_LABEL_EXPIRY = "mina-itn/expiry"
K8S_SELECTOR = "app.kubernetes.io/part-of=mina-itn"
GCP_FILTER = "labels.managed-by=pulumi"
GKE_FILTER = "resourceLabels.managed-by=pulumi"
_INSTALL_HINTS = {
    "pulumi": "install the Pulumi CLI (https://www.pulumi.com/docs/install/)",
    "gcloud": "install the Google Cloud CLI, or pass --no-gcloud to skip GCE and GKE",
    "kubectl": "install kubectl, or pass --no-kubectl to skip namespaces",
}

_LABEL_TIME = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[tT_ ](?P<h>\d{2})[-:]?(?P<m>\d{2})(?:[-:]?(?P<s>\d{2}))?[zZ]?)?$"
)


class JanitorError(RuntimeError):
    """A problem the user must fix before the janitor can run (missing CLI, failed command)."""


@dataclass(frozen=True)
class Finding:
    kind: str  # stack | instance | disk | cluster | namespace
    name: str
    experiment: str | None
    expires: dt.datetime | None
    location: str | None = None

    def expired(self, now: dt.datetime) -> bool:
        return self.expires is not None and self.expires <= now


def parse_time(value: Any) -> dt.datetime | None:
    """ISO 8601 or a label-safe expiry (`2025-01-31`, `2025-01-31_06-30`); naive means UTC."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        match = _LABEL_TIME.match(text)
        if not match:
            return None
        try:
            moment = dt.datetime.combine(
                dt.date.fromisoformat(match["date"]),
                dt.time(int(match["h"] or 0), int(match["m"] or 0), int(match["s"] or 0)),
            )
        except ValueError:
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _run_json(argv: list[str]) -> Any:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
    except FileNotFoundError as error:
        raise JanitorError(f"`{argv[0]}` is not on PATH") from error
    if result.returncode != 0:
        raise JanitorError(f"`{' '.join(argv)}` failed: {result.stderr.strip()}")
    return json.loads(result.stdout or "null")


def _short(name: str) -> str:
    """`org/project/dev` and `dev` name the same experiment."""
    return name.rsplit("/", 1)[-1]


def _last_segment(url: Any) -> str | None:
    return str(url).rstrip("/").rsplit("/", 1)[-1] if url else None


def list_stacks() -> tuple[list[Finding], list[str]]:
    """Stacks with their `expiresAt` output, and the stack names (for ownership)."""
    stacks = _run_json(["pulumi", "stack", "ls", "--json"]) or []
    findings, names = [], []
    for stack in stacks:
        name = stack["name"]
        names.append(name)
        try:
            outputs = _run_json(["pulumi", "stack", "output", "--json", "--stack", name]) or {}
        except JanitorError as error:  # e.g. a stack that was never deployed
            print(f"  warning: {error}", file=sys.stderr)
            outputs = {}
        findings.append(Finding("stack", name, _short(name), parse_time(outputs.get("expiresAt"))))
    return findings, names


def list_gcp() -> list[Finding]:
    found = []
    for kind, argv, labels_key, label_filter in (
        ("instance", ["gcloud", "compute", "instances", "list"], "labels", GCP_FILTER),
        ("disk", ["gcloud", "compute", "disks", "list"], "labels", GCP_FILTER),
        ("cluster", ["gcloud", "container", "clusters", "list"], "resourceLabels", GKE_FILTER),
    ):
        for item in _run_json([*argv, "--format=json", f"--filter={label_filter}"]) or []:
            labels = item.get(labels_key) or {}
            location = _last_segment(item.get("zone")) or item.get("location")
            found.append(
                Finding(
                    kind,
                    item["name"],
                    labels.get(GCP_LABEL_EXPERIMENT),
                    parse_time(labels.get(GCP_LABEL_EXPIRY)),
                    location,
                )
            )
    return found


def list_namespaces() -> list[Finding]:
    data = _run_json(["kubectl", "get", "namespaces", "-l", K8S_SELECTOR, "-o", "json"]) or {}
    found = []
    for item in data.get("items", []):
        metadata = item.get("metadata", {})
        labels = metadata.get("labels") or {}
        found.append(
            Finding(
                "namespace",
                metadata["name"],
                labels.get(K8S_LABEL_EXPERIMENT),
                parse_time(labels.get(K8S_LABEL_EXPIRY)),
            )
        )
    return found


def _delete_command(finding: Finding) -> list[str]:
    if finding.kind == "stack":
        return ["pulumi", "destroy", "--yes", "--stack", finding.name]
    if finding.kind == "instance":
        zone = ["--zone", finding.location] if finding.location else []
        return ["gcloud", "compute", "instances", "delete", finding.name, *zone, "--quiet"]
    if finding.kind == "disk":
        zone = ["--zone", finding.location] if finding.location else []
        return ["gcloud", "compute", "disks", "delete", finding.name, *zone, "--quiet"]
    if finding.kind == "cluster":
        where = ["--location", finding.location] if finding.location else []
        return ["gcloud", "container", "clusters", "delete", finding.name, *where, "--quiet"]
    return ["kubectl", "delete", "namespace", finding.name]


def _act(command: list[str]) -> bool:
    print(f"  running: {' '.join(command)}", flush=True)
    result = subprocess.run(command, check=False)
    if result.returncode != 0:
        print(f"  FAILED ({result.returncode}): {' '.join(command)}", file=sys.stderr)
    return result.returncode == 0


def _describe(finding: Finding) -> str:
    where = f" [{finding.location}]" if finding.location else ""
    expires = finding.expires.isoformat() if finding.expires else "no expiry"
    return f"{finding.kind:9} {finding.name}{where} experiment={finding.experiment} {expires}"


def run(*, delete: bool, now: dt.datetime, gcloud: bool, kubectl: bool) -> int:
    required = ["pulumi"] + (["gcloud"] if gcloud else []) + (["kubectl"] if kubectl else [])
    missing = [tool for tool in required if shutil.which(tool) is None]
    if missing:
        raise JanitorError(
            "; ".join(f"`{tool}` is not on PATH: {_INSTALL_HINTS[tool]}" for tool in missing)
        )
    stacks, stack_names = list_stacks()
    owners = {_short(name) for name in stack_names}
    leftovers = (list_gcp() if gcloud else []) + (list_namespaces() if kubectl else [])

    expired_stacks = [s for s in stacks if s.expired(now)]
    expired_leftovers = [r for r in leftovers if r.expired(now)]
    print(f"janitor: now={now.isoformat()} mode={'DELETE' if delete else 'read-only'}")
    print(f"{len(expired_stacks)} expired stack(s) of {len(stacks)}:")
    for finding in expired_stacks:
        print(f"  {_describe(finding)}")
    print(f"{len(expired_leftovers)} expired resource(s) of {len(leftovers)}:")
    for finding in expired_leftovers:
        owner = finding.experiment in owners
        print(f"  {_describe(finding)} ({'owned by its stack' if owner else 'no stack owns it'})")
    no_expiry = [f for f in stacks + leftovers if f.expires is None]
    for finding in no_expiry:
        print(f"  note: {finding.kind} {finding.name} carries no expiry; check it by hand")

    failures = 0
    if delete:
        for finding in expired_stacks:
            failures += not _act(_delete_command(finding))
        for finding in expired_leftovers:
            if finding.experiment in owners:
                print(f"  skipped {finding.kind} {finding.name}: destroy its stack instead")
            elif finding.kind in {"instance", "namespace"}:
                failures += not _act(_delete_command(finding))
            else:
                print(
                    f"  left {finding.kind} {finding.name} for a human; to remove it: "
                    + " ".join(_delete_command(finding))
                )
    elif expired_stacks or expired_leftovers:
        print("read-only: nothing changed; rerun with --delete to act")
    return 1 if failures else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.janitor", description=__doc__)
    parser.add_argument("--delete", action="store_true", help="destroy/delete what expired")
    parser.add_argument("--now", help="ISO time to judge expiry against (default: now, UTC)")
    parser.add_argument("--no-gcloud", action="store_true", help="skip GCE and GKE")
    parser.add_argument("--no-kubectl", action="store_true", help="skip Kubernetes namespaces")
    args = parser.parse_args(argv)
    now = dt.datetime.now(dt.UTC)
    if args.now is not None:
        parsed = parse_time(args.now)
        if parsed is None:
            parser.error(f"--now {args.now!r} is not an ISO date or time")
        now = parsed
    try:
        return run(
            delete=args.delete, now=now, gcloud=not args.no_gcloud, kubectl=not args.no_kubectl
        )
    except JanitorError as error:
        print(f"janitor: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
