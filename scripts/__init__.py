"""Command-line tools (`python -m scripts.<tool>`); each checks the Python version first."""

from minaperf.python_version import require_supported_python

require_supported_python()
