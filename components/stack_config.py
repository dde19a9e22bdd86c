"""Read this stack's `mina-itn:*` config from the engine, once, into `ExperimentConfig`."""

from __future__ import annotations

import pulumi
from pulumi.runtime import config as runtime_config

from minaperf.cloud.gcp_project import with_docker_hub_mirror
from minaperf.model.config import CONFIG_NAMESPACE, ConfigError, ExperimentConfig, prepare_values
from minaperf.model.load import parse_config
from minaperf.model.local_inputs import check_local_inputs


def load_experiment_config() -> ExperimentConfig:
    """The validated config; a bad key stops the run with `config error: <key>: <why>`."""
    raw = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    prefix = f"{CONFIG_NAMESPACE}:"
    secret = {key.removeprefix(prefix) for key in raw if runtime_config.is_config_secret(key)}
    try:
        config = parse_config(pulumi.get_stack(), prepare_values(raw), secret_paths=secret)
        # Local key files and kubeconfig: read before any resource, with the other errors.
        check_local_inputs(config)
    except ConfigError as error:
        raise pulumi.RunError(f"config error: {error}") from None
    # Docker Hub images through the Artifact Registry remote repository, if asked for.
    return with_docker_hub_mirror(config)
