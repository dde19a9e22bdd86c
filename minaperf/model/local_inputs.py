"""Files the stack config points at on the operator's machine, checked before any resource.

`keys.imported.<node>.keyFile` and `platform.kubeconfig` name local files. Reading them inside
the program would surface a missing, binary or wrong file only after the engine has started (and,
for a wrong password, after every derived key); reading them here puts those errors with the
other config errors, as one `config error: <key>: <why>` line.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from minaperf.files import FileInputError, read_text_file
from minaperf.keys import secret_box
from minaperf.keys.material import ImportedMinaKey
from minaperf.keys.secret_box import KeyFileError
from minaperf.model.config import ConfigError, ExperimentConfig, KubernetesPlatform

MAX_LOCAL_FILE_BYTES = 1 << 20
"""A key file is ~400 bytes and a kubeconfig a few KiB; anything past 1 MiB is the wrong file."""


def read_local_text(key: str, path_text: str) -> str:
    """UTF-8 text of a local file named by config `key`, or ConfigError naming the key."""
    path = Path(path_text).expanduser()
    try:
        return read_text_file(path, limit=MAX_LOCAL_FILE_BYTES, what="file")
    except FileInputError as error:
        raise ConfigError(key, error.reason) from None


def read_imported_key(node: str, key_file: str, password: str) -> ImportedMinaKey:
    """A user's key file for `node`, decrypted once to prove file and password belong together."""
    text = read_local_text(f"keys.imported.{node}.keyFile", key_file)
    try:
        return ImportedMinaKey.from_key_file(text, password)
    except KeyFileError as error:
        raise ConfigError(
            f"keys.imported.{node}", f"{error} (check keyFile and password)"
        ) from None


def check_local_inputs(
    config: ExperimentConfig, *, unreadable_secrets: Collection[str] = ()
) -> None:
    """Every local file the config names is readable and what it claims to be.

    `unreadable_secrets` are config paths whose value is only a placeholder here (an encrypted
    value the offline render cannot decrypt); their key files are checked without decrypting.
    """
    for node, entry in config.keys.imported.items():
        password_path = f"keys.imported.{node}.password"
        if any(
            password_path == path or password_path.startswith(f"{path}.")
            for path in unreadable_secrets
        ):
            text = read_local_text(f"keys.imported.{node}.keyFile", entry.key_file)
            try:
                secret_box.parse(text)
            except KeyFileError as error:
                raise ConfigError(f"keys.imported.{node}.keyFile", str(error)) from None
        else:
            read_imported_key(node, entry.key_file, entry.password)
    platform = config.platform
    if isinstance(platform, KubernetesPlatform) and platform.kubeconfig is not None:
        read_kubeconfig(platform.kubeconfig)


def read_kubeconfig(path_text: str) -> str:
    """The kubeconfig's text; it must at least be a YAML mapping (kubectl's own first check)."""
    import yaml

    text = read_local_text("platform.kubeconfig", path_text)
    try:
        document = yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError):
        raise ConfigError(
            "platform.kubeconfig", f"{path_text} is not a kubeconfig (not valid YAML)"
        ) from None
    if not isinstance(document, dict):
        raise ConfigError("platform.kubeconfig", f"{path_text} is not a kubeconfig (no mapping)")
    return text
