"""Subcommands of `python -m scripts.experiment`, one module per concern; each has `register`."""
