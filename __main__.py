"""One Mina ITN performance experiment per stack: `pulumi up` builds it, `pulumi destroy` ends
it."""

from minaperf.python_version import require_supported_python

require_supported_python()

# After the version check, so a wrong Python gets one line, not an import error.
import pulumi

from components.experiment import Experiment
from components.stack_config import load_experiment_config

config = load_experiment_config()
experiment = Experiment(config.name, config)
for key, value in experiment.stack_outputs.items():
    pulumi.export(key, value)
