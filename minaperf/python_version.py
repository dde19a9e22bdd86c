"""The Python this project runs on, checked before anything else is imported.

Kept to syntax every Python 3 parses (no annotations, f-strings or walrus), so an old interpreter
reaches the one-line message instead of a SyntaxError or ImportError deep in a module.
"""

import sys

LOWEST = (3, 11)
"""pyproject.toml `requires-python = ">=3.11,<3.14"`: the oldest minor version CI tests."""
HIGHEST = (3, 13)
"""The newest minor version CI tests; the hash locks are resolved for every one in between."""


def version_problem(version_info):
    """The one-line error for an unsupported interpreter, or None when it is a supported one."""
    found = tuple(version_info[:2])
    if LOWEST <= found <= HIGHEST:
        return None
    want = "%d.%d to %d.%d" % (LOWEST + HIGHEST)  # noqa: UP031 (no f-string: any Python 3 parses)
    return (
        "error: this project needs Python " + want + " (found " + "%d.%d" % found  # noqa: UP031
        + " at " + sys.executable + "); create the venv with one of them, e.g. python3."
        + str(HIGHEST[1]) + " -m venv .venv"
    )  # fmt: skip


def require_supported_python():
    """Exit with status 2 and one line on stderr under a wrong Python."""
    problem = version_problem(sys.version_info)
    if problem is not None:
        sys.stderr.write(problem + "\n")
        raise SystemExit(2)
