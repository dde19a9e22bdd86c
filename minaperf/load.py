"""A stack's config, checked in full: the model (minaperf/config.py), then the sizing rules
(minaperf/sizing.py) that judge it. Kept apart so that the model does not depend on the rules."""

from __future__ import annotations

from typing import Any

from minaperf.config import ExperimentConfig, validate_model
from minaperf.sizing import validate_pools


def parse_config(name: str, values: dict[str, Any]) -> ExperimentConfig:
    """Validate the stack's `mina-itn:*` values (namespace already stripped); raises ConfigError."""
    config = validate_model(name, values)
    validate_pools(config)
    return config
