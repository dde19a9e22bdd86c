"""A stand-in for `python -m scripts.report --run DIR --stack NAME` (docs/architecture.md contract).

It reads the stack outputs the way the real report does (`pulumi stack output --show-secrets`,
so the stack must still be up), then writes `<run>/report/report.html`. FAKE_REPORT_FAIL=1 makes
it fail like a report that cannot reach PostgreSQL; FAKE_REPORT_INCOMPLETE=1 writes the report and
exits 3 like one whose sections had no data (scripts/report.py, minaperf/report/verdict.py).
"""

import argparse
import os
import sys
from pathlib import Path

from minaperf.model.outputs import read_stack_outputs

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", required=True)
    parser.add_argument("--stack", required=True)
    args = parser.parse_args()
    outputs = read_stack_outputs(args.stack, show_secrets=True)
    if os.environ.get("FAKE_REPORT_FAIL"):
        print("error: cannot reach PostgreSQL", file=sys.stderr)
        sys.exit(1)
    out = Path(args.run) / "report"
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.html").write_text(f"<html>{outputs.experiment}</html>")
    if os.environ.get("FAKE_REPORT_INCOMPLETE"):
        print("incomplete: latency: no transaction was both seen and included", file=sys.stderr)
        sys.exit(3)
