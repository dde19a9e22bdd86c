"""One Mina ITN performance experiment per stack: `pulumi up` builds it, `pulumi destroy` ends
it."""

import pulumi

from components.experiment import Experiment
from components.stack_config import load_experiment_config

config = load_experiment_config()
experiment = Experiment(config.name, config)
for key, value in experiment.stack_outputs.items():
    pulumi.export(key, value)
