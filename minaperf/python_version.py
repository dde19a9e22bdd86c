"""The Python this project runs on, checked before anything else is imported.

Kept to syntax every Python 3 parses (no annotations, f-strings or walrus), so an old interpreter
reaches the one-line message instead of a SyntaxError or ImportError deep in a module.
"""

import sys

REQUIRED = (3, 11)
"""pyproject.toml `requires-python = ">=3.11,<3.12"`: the version CI, pyright and the pins use."""


def version_problem(version_info):
    """The one-line error for an unsupported interpreter, or None when it is the right one."""
    if tuple(version_info[:2]) == REQUIRED:
        return None
    want = "%d.%d" % REQUIRED  # noqa: UP031 (no f-string: parsed by any Python 3)
    found = "%d.%d" % tuple(version_info[:2])  # noqa: UP031
    return (
        "error: this project needs Python " + want + " (found " + found + " at "
        + sys.executable + "); create the venv with python" + want + " -m venv .venv"
    )  # fmt: skip


def require_supported_python():
    """Exit with status 2 and one line on stderr under a wrong Python."""
    problem = version_problem(sys.version_info)
    if problem is not None:
        sys.stderr.write(problem + "\n")
        raise SystemExit(2)
