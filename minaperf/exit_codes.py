"""The exit status every command shares: bad input exits 2 (docs/cli.md, the bad-input contract).

`scripts/cli.py` prints the one `error: …` line; the library modules that decide an exit code
(`experiment.lifecycle`, `report.verdict`) import the status from here.
"""

EXIT_BAD_INPUT = 2
