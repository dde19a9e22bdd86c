"""A stack's config, checked in full: the model (minaperf/model/config.py), then the sizing rules
(minaperf/model/sizing.py) that judge it. Kept apart so that the model does not depend on the
rules."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from minaperf.model.config import ExperimentConfig, validate_model
from minaperf.model.sizing import validate_pools


def parse_config(
    name: str,
    values: dict[str, Any],
    *,
    secret_paths: Collection[str] | None = None,
    now: datetime | None = None,
) -> ExperimentConfig:
    """Validate the stack's `mina-itn:*` values (namespace already stripped); raises ConfigError.

    `secret_paths` and `now` as in `minaperf.model.config.validate_model`."""
    config = validate_model(name, values, secret_paths=secret_paths, now=now)
    validate_pools(config)
    return config
