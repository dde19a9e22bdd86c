"""The label, marker and naming contract: the one home of every key, marker and name that the
program writes and the policy pack, the janitor, preflight and the config model read back.

Standard library only: the engine runs the policy pack with only `policy/` on `sys.path`, and the
janitor must not load Pulumi to run a regular expression (tests/policy/test_markers.py).
"""

import datetime as dt
import hashlib
import re

# --- GCP labels ----------------------------------------------------------------------------------

OWN_GCP_LABEL = "mina-itn-experiment"
"""A GCP label only this project sets (the experiment as value): the janitor selects by it, never
by look-alike generic labels (`experiment`, `managed-by=pulumi`) another team may also use."""
GCP_LABEL_EXPERIMENT = "experiment"
GCP_LABEL_EXPIRY = "expiry"
GCP_LABEL_OWNER = "owner"
GCP_LABEL_MANAGED_BY = "managed-by"
PROGRAM_GCP_LABELS = (
    GCP_LABEL_EXPERIMENT,
    OWN_GCP_LABEL,
    GCP_LABEL_OWNER,
    GCP_LABEL_MANAGED_BY,
    GCP_LABEL_EXPIRY,
)
"""Labels the program puts on every labelled GCP resource (components/labels.py)."""
GCP_MAX_LABELS = 64
GCP_LABEL_KEY = re.compile(r"^[a-z][-_a-z0-9]{0,62}$")
"""GCP label keys start with a lowercase letter, then lowercase letters, digits, '-' or '_', at
most 63 characters; 64 labels per resource (cloud.google.com/compute/docs/labeling-resources
#requirements)."""

# --- Kubernetes labels ---------------------------------------------------------------------------

K8S_PREFIX = "mina-itn"
"""The prefix of this project's own Kubernetes label and annotation keys."""
K8S_PART_OF_LABEL = "app.kubernetes.io/part-of"
K8S_PART_OF = "mina-itn"
K8S_COMPONENT_LABEL = "app.kubernetes.io/component"
K8S_EXPERIMENT_LABEL = f"{K8S_PREFIX}/experiment"
"""A namespace is this project's only when it carries both labels (part-of=mina-itn and the
experiment); the janitor never treats look-alike labels as ours."""
K8S_EXPIRY_LABEL = f"{K8S_PREFIX}/expiry"
K8S_OWNER_LABEL = f"{K8S_PREFIX}/owner"

K8S_KEPT_DATA_LABEL = f"{K8S_PREFIX}/kept-data"
"""On a namespace the program keeps on `pulumi destroy` (PostgreSQL's claim lives in it): the
janitor reports such a namespace and never deletes it."""

POSTGRES_DATA_CLAIM = "postgres-data"
"""The PersistentVolumeClaim holding PostgreSQL's data (components/postgres.py): the janitor never
deletes a namespace that holds it."""

# --- the engine's wire form of a secret -------------------------------------------------------

SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"  # noqa: S105 (a public type marker)
SECRET_SIG_VALUE = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105 (a public type marker)
"""A secret input on the wire is `{SECRET_SIG_KEY: SECRET_SIG_VALUE, "value": ...}` (pulumi SDK
runtime/rpc.py:65,83 `_special_sig_key`, `_special_secret_sig`; tests/scripts/test_engine.py
fails naming them if the pinned SDK changes)."""

# --- the expiry label ----------------------------------------------------------------------------

EXPIRY_FORMAT = "%Y-%m-%d_%H-%M"
"""Expiry label values: UTC, minute precision, valid for both GCP and Kubernetes labels."""
_EXPIRY = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[tT_](?P<h>\d{2})-?(?P<m>\d{2})(?:-?(?P<s>\d{2}))?[zZ]?)?$"
)


def expiry_label(moment: dt.datetime) -> str:
    """The expiry label value of a UTC moment."""
    return moment.strftime(EXPIRY_FORMAT)


def parse_expiry_label(text: object) -> dt.datetime | None:
    """An expiry label value as a UTC moment: `YYYY-MM-DD`, optionally followed by a label-safe
    time such as `_12-30` (ours), `t12-30z` or `t1230z` (labels cannot hold `:`); None for
    anything else."""
    match = _EXPIRY.match(text.strip()) if isinstance(text, str) else None
    if not match:
        return None
    try:
        day = dt.date.fromisoformat(match["date"])
        clock = dt.time(int(match["h"] or 0), int(match["m"] or 0), int(match["s"] or 0))
    except ValueError:
        return None
    return dt.datetime.combine(day, clock, tzinfo=dt.UTC)


# --- descriptions: the markers of what carries no labels -----------------------------------------

_EXPERIMENT = r"(?P<experiment>[a-z](?:[-a-z0-9]*[a-z0-9])?)"
SERVICE_ACCOUNT_MARKER = re.compile(
    rf"{OWN_GCP_LABEL}={_EXPERIMENT}; expiry=(?P<expiry>\d{{4}}-\d{{2}}-\d{{2}}_\d{{2}}-\d{{2}})"
)
"""The whole description of a service account this project creates. Service accounts carry no
labels, so this marker is what the janitor finds them by; only an exact full match counts."""

GROUP_MARKER = re.compile(rf"{OWN_GCP_LABEL}={_EXPERIMENT}")
"""The whole description of a managed instance group this project creates (groups carry no
labels). The janitor deletes a group only when the group itself carries it, exactly."""

OWN_DESCRIPTION_MAX = 256
"""IAM keeps at most 256 UTF-8 bytes of a service account's description (terraform-provider-google
@e03b762 google/services/resourcemanager/resource_google_service_account.go:111)."""


def own_description(experiment: str, expiry: str) -> str:
    """`mina-itn-experiment=<experiment>; expiry=<expiry label>`, what `parse_own_description`
    reads back."""
    text = f"{OWN_GCP_LABEL}={experiment}; expiry={expiry}"
    if SERVICE_ACCOUNT_MARKER.fullmatch(text) is None or len(text.encode()) > OWN_DESCRIPTION_MAX:
        raise ValueError(f"no service account marker for {experiment!r} expiring {expiry!r}")
    return text


def parse_own_description(text: object) -> tuple[str, str] | None:
    """(experiment, expiry label) if `text` is exactly our marker; None for anything else,
    including a description that merely quotes the marker inside other words."""
    if not isinstance(text, str):
        return None
    match = SERVICE_ACCOUNT_MARKER.fullmatch(text)
    return (match["experiment"], match["expiry"]) if match else None


def group_description(experiment: str) -> str:
    """`mina-itn-experiment=<experiment>`: a managed instance group's whole description (groups
    carry no labels), what `parse_group_description` reads back. No expiry: the provider replaces
    a group whose description changes (terraform-provider-google
    google/services/compute/resource_compute_instance_group_manager.go, `description` ForceNew),
    and its members carry the expiry label."""
    text = f"{OWN_GCP_LABEL}={experiment}"
    if GROUP_MARKER.fullmatch(text) is None:
        raise ValueError(f"no instance group marker for {experiment!r}")
    return text


def parse_group_description(text: object) -> str | None:
    """The experiment if `text` is exactly our group marker; None for anything else."""
    if not isinstance(text, str):
        return None
    match = GROUP_MARKER.fullmatch(text)
    return match["experiment"] if match else None


# --- names ---------------------------------------------------------------------------------------

SERVICE_ACCOUNT_ID_LENGTH = (6, 30)
"""IAM `accountId`: 6-30 characters, RFC 1035 (projects.serviceAccounts.create reference)."""
_DIGEST_CHARS = 8
NODES_ACCOUNT = "nodes"
"""Purpose of the GKE nodes' account (components/platform.py)."""
WORKERS_ACCOUNT = "workers"
"""Purpose of the snark worker VMs' account (components/worker_pool.py)."""


def service_account_id(experiment: str, purpose: str) -> str:
    """A valid, per-experiment service account id: readable prefix + a digest of the full name.

    Truncating `itn-<stack>-<purpose>` alone lets two long stack names share an account (one
    stack's destroy then deletes the other's) and can leave a trailing '-'. The digest covers the
    untruncated name, so distinct (experiment, purpose) pairs get distinct ids.
    """
    full = f"itn-{experiment}-{purpose}"
    digest = hashlib.sha256(full.encode()).hexdigest()[:_DIGEST_CHARS]
    room = SERVICE_ACCOUNT_ID_LENGTH[1] - _DIGEST_CHARS - 1
    prefix = full[:room].rstrip("-")
    return f"{prefix}-{digest}"


DISK_SUFFIX_BYTES = 3
"""Random bytes of a PostgreSQL data disk's suffix (6 hex digits), drawn once per deploy."""


def data_disk_name(experiment: str, suffix: str) -> str:
    """`itn-<stack>-postgres-<6 hex>`: the suffix is drawn once per deploy and kept in state.

    A kept disk outlives `pulumi destroy`; a fixed name would make the next `pulumi up` of the
    same stack fail with "already exists". The next deploy draws a new suffix and creates a new
    disk; the earlier one stays where `teardown` and `preflight` say, ready for
    `postgres.existingDisk`.
    """
    return f"itn-{experiment}-postgres-{suffix}"


def data_disk_pattern(experiment: str) -> str:
    """A regular expression for the names of the experiment's PostgreSQL data disks, kept or
    not (the unsuffixed name is that of disks made before the suffix). Experiment names need
    no escaping (lowercase letters, digits and `-`)."""
    return f"{data_disk_name(experiment, '')[:-1]}(-[0-9a-f]{{{2 * DISK_SUFFIX_BYTES}}})?"
