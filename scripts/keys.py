"""Key tool for operators: make, inspect and export Mina / libp2p / ITN keys.

Run as `python -m scripts.keys …`. Secrets are read from environment variables (never from
arguments, which land in shell history and `ps`) and are printed only with --show-secret.
Exit status 2 with a one-line `error: …` on stderr for any bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
from collections.abc import Sequence
from pathlib import Path

from minaperf.files import FileInputError, read_text_file
from minaperf.keys import itn, libp2p, mina, secret_box
from minaperf.keys.secret_box import KeyFileError
from minaperf.model.config import one_line
from scripts.cli import CliError, OneLineParser, add_outputs_source, bad_input, read_outputs

DEFAULT_MINA_PASSWORD_ENV = "MINA_PRIVKEY_PASS"  # noqa: S105 (a variable name)
DEFAULT_LIBP2P_PASSWORD_ENV = "MINA_LIBP2P_PASS"  # noqa: S105 (a variable name)

EXPORT_LAYOUT = """\
export layout (DIR is created 0700; every file is 0600):
  DIR/funding-<i>           daemon key file (secret box) of funding account i
  DIR/funding-<i>.pub       its B62 public key + newline
  DIR/funding-<i>.password  its password (no newline), e.g.
                            MINA_PRIVKEY_PASS="$(cat DIR/funding-0.password)" mina ...
  DIR/public-keys           one line per account: funding-<i> <B62 public key>
"""


def _password(env_name: str) -> str:
    value = os.environ.get(env_name)
    if value is None:
        raise CliError(f"set the password in the environment variable {env_name}")
    return value


def _ensure_private_dir(directory: Path) -> None:
    """Create `directory` 0700 when new (the daemon requires exactly 0700 on key dirs)."""
    if directory.exists():
        if not directory.is_dir():
            raise CliError(f"{directory} exists and is not a directory")
        return
    directory.mkdir(mode=0o700, parents=True)
    directory.chmod(0o700)  # mkdir's mode is filtered by the umask


def _write_private(path: Path, text: str, *, exclusive: bool) -> None:
    """Write `text` to `path` with mode 0600 from the first byte on."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | (os.O_EXCL if exclusive else 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError as error:
        raise CliError(f"{path} already exists; refusing to overwrite a key") from error
    except OSError as error:
        raise CliError(f"cannot write {path}: {error.strerror}") from error
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(text)


MAX_STDIN_KEY_BYTES = 4096
"""An EK private key is 52 characters; more than a few KiB on stdin is not a key."""


def _private_key_input(args: argparse.Namespace) -> str:
    """The private key from an environment variable or stdin, never from argv (shell history,
    `ps` and audit logs keep the command line)."""
    if args.private_key is not None:
        raise CliError(
            "the private key is read from stdin or --from-env VAR, never from the command line "
            "(it would land in shell history and ps); e.g. "
            "`python -m scripts.keys public-key < key.txt`"
        )
    if args.from_env is not None:
        value = os.environ.get(args.from_env)
        if value is None:
            raise CliError(f"set the private key in the environment variable {args.from_env}")
        return value.strip()
    if sys.stdin is None or sys.stdin.isatty():
        raise CliError("pipe the private key on stdin, or name a variable with --from-env VAR")
    data = sys.stdin.buffer.read(MAX_STDIN_KEY_BYTES + 1)
    if len(data) > MAX_STDIN_KEY_BYTES:
        raise CliError("stdin holds more than a private key (over 4 KiB)")
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError as error:
        raise CliError("stdin is not UTF-8 text") from error


def cmd_public_key(args: argparse.Namespace) -> None:
    private_key = _private_key_input(args)
    try:
        print(mina.public_key_of(private_key))
    except mina.MinaKeyError as error:
        raise CliError(str(error)) from error


def _pwdiff(args: argparse.Namespace) -> secret_box.PwDiff:
    return secret_box.GENERATED_PWDIFF if args.fast else secret_box.MODERATE_PWDIFF


def _refuse_existing(*paths: Path) -> None:
    """Refuse before writing anything when any output file exists (a key, or only its .pub)."""
    for path in paths:
        if path.exists() or path.is_symlink():
            raise CliError(
                f"{path} already exists; refusing to overwrite a key (choose another --out)"
            )


def cmd_new_mina(args: argparse.Namespace) -> None:
    password = _password(args.password_env or DEFAULT_MINA_PASSWORD_ENV)
    out = Path(args.out)
    _refuse_existing(out, Path(f"{out}.pub"))
    _ensure_private_dir(out.parent)
    keypair = mina.MinaKeypair.generate()
    key_file = secret_box.encrypt_random(keypair.private_key_bytes, password, pwdiff=_pwdiff(args))
    _write_private(out, key_file, exclusive=True)
    _write_private(Path(f"{out}.pub"), keypair.public_key + "\n", exclusive=True)
    print(keypair.public_key)


def cmd_new_libp2p(args: argparse.Namespace) -> None:
    password = _password(args.password_env or DEFAULT_LIBP2P_PASSWORD_ENV)
    out = Path(args.out)
    _refuse_existing(out, Path(f"{out}.peerid"))
    _ensure_private_dir(out.parent)
    keypair = libp2p.Libp2pKeypair.generate()
    key_file = secret_box.encrypt_random(
        keypair.triple().encode("utf-8"), password, pwdiff=_pwdiff(args)
    )
    _write_private(out, key_file, exclusive=True)
    _write_private(Path(f"{out}.peerid"), keypair.peer_id, exclusive=True)
    print(keypair.peer_id)


def cmd_new_itn(args: argparse.Namespace) -> None:
    """The public key always; the secret only to a 0600 file (--out) or when asked."""
    key = itn.ItnKey.generate()
    if args.out is not None:
        out = Path(args.out)
        _refuse_existing(out)
        _ensure_private_dir(out.parent)
        _write_private(out, key.secret_b64 + "\n", exclusive=True)
    if args.show_secret:
        print(f"secret: {key.secret_b64}")
    print(f"public: {key.public_b64}")
    if args.out is None and not args.show_secret:
        print(
            "note: the secret was not shown; use --out FILE (0600) or --show-secret",
            file=sys.stderr,
        )


def cmd_new_seed(_args: argparse.Namespace) -> None:
    """A key seed for `keys.seed`/`keys.fundingSeed`: 32 random bytes, base64 (a secret)."""
    import base64
    import secrets

    print(base64.b64encode(secrets.token_bytes(32)).decode())


def cmd_inspect(args: argparse.Namespace) -> None:
    try:
        text = read_text_file(args.file, what="inspect")
    except FileInputError as error:
        raise CliError(str(error)) from None
    env_name = args.password_env
    if env_name is None:
        # The kind is known only after decryption, so either default variable may hold it.
        env_name = next(
            (
                n
                for n in (DEFAULT_MINA_PASSWORD_ENV, DEFAULT_LIBP2P_PASSWORD_ENV)
                if n in os.environ
            ),
            None,
        )
        if env_name is None:
            raise CliError(
                f"set the password in {DEFAULT_MINA_PASSWORD_ENV} or "
                f"{DEFAULT_LIBP2P_PASSWORD_ENV}, or name a variable with --password-env"
            )
    password = _password(env_name)
    try:
        plaintext = secret_box.decrypt(text, password)
    except KeyFileError as error:
        raise CliError(f"{args.file}: {error}") from error
    result: dict[str, str]
    if len(plaintext) == mina.PRIVATE_KEY_BYTES_LENGTH and plaintext[:1] == b"\x01":
        try:
            scalar = mina.scalar_from_private_key_bytes(plaintext)
        except mina.MinaKeyError as error:
            raise CliError(f"{args.file}: {error}") from error
        result = {"kind": "mina", "public_key": mina.public_key_of_scalar(scalar)}
        if args.show_secret:
            result["private_key"] = mina.format_private_key(scalar)
    else:
        try:
            keypair = libp2p.parse_triple(plaintext.decode("utf-8"))
        except (UnicodeDecodeError, libp2p.Libp2pKeyError) as error:
            raise CliError(f"{args.file}: neither a Mina nor a libp2p key") from error
        result = {"kind": "libp2p", "peer_id": keypair.peer_id}
        if args.show_secret:
            result["keypair"] = keypair.triple()
    print(json.dumps(result))


def cmd_export(args: argparse.Namespace) -> None:
    outputs = read_outputs(args)
    try:
        outputs.require_secrets()
    except ValueError as error:
        raise CliError(f"cannot read stack outputs: {error}") from error
    funding = outputs.funding_keys
    assert not isinstance(funding, str)  # require_secrets() rejected the masked form
    for index, key in enumerate(funding):
        if mina.public_key_of(key.private_key) != key.public_key:
            raise CliError(f"funding key {index}: private key does not match its public key")
        secret_box.parse(key.key_file)
    out = Path(args.out)
    _ensure_private_dir(out)
    if stat.S_IMODE(out.stat().st_mode) & 0o077:
        raise CliError(f"{out} is accessible by group/others; use a new directory or chmod 700")
    lines: list[str] = []
    for index, key in enumerate(funding):
        base = out / f"funding-{index}"
        _write_private(base, key.key_file, exclusive=False)
        _write_private(Path(f"{base}.pub"), key.public_key + "\n", exclusive=False)
        _write_private(Path(f"{base}.password"), key.password, exclusive=False)
        lines.append(f"funding-{index} {key.public_key}\n")
    _write_private(out / "public-keys", "".join(lines), exclusive=False)
    print(f"wrote {len(funding)} funding key(s) to {out}")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m scripts.keys", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    public_key = commands.add_parser(
        "public-key",
        help="print the B62 public key of an EK key read from stdin or --from-env",
        description="Read an EK private key from stdin (or --from-env VAR), never from argv.",
    )
    public_key.add_argument("private_key", nargs="?", help=argparse.SUPPRESS)
    public_key.add_argument("--from-env", metavar="VAR", help="env var holding the private key")
    public_key.set_defaults(func=cmd_public_key)

    new = commands.add_parser("new", help="generate a key")
    kinds = new.add_subparsers(dest="kind", required=True, parser_class=OneLineParser)
    for kind, env, side, func in (
        ("mina", DEFAULT_MINA_PASSWORD_ENV, ".pub", cmd_new_mina),
        ("libp2p", DEFAULT_LIBP2P_PASSWORD_ENV, ".peerid", cmd_new_libp2p),
    ):
        sub = kinds.add_parser(
            kind,
            help=f"write a {kind} key file (0600) and FILE{side}",
            description=(
                f"Write a daemon {kind} key file (mode 0600, parent created 0700) and "
                f"FILE{side}. Argon2i cost is libsodium 'moderate' [128 MiB, 6] unless --fast."
            ),
        )
        sub.add_argument("--out", required=True, metavar="FILE")
        sub.add_argument(
            "--password-env", metavar="VAR", help=f"env var holding the password (default {env})"
        )
        sub.add_argument(
            "--fast",
            action="store_true",
            help="cheap Argon2i cost; only for random passwords stored next to the file",
        )
        sub.set_defaults(func=func)
    itn_parser = kinds.add_parser(
        "itn", help="make an ITN Ed25519 key: prints the public key; the secret only if asked"
    )
    itn_parser.add_argument("--out", metavar="FILE", help="write the base64 secret here (0600)")
    itn_parser.add_argument("--show-secret", action="store_true", help="print the secret too")
    itn_parser.set_defaults(func=cmd_new_itn)
    seed_parser = kinds.add_parser(
        "seed", help="print a new key seed (base64, 32 bytes) for keys.seed / keys.fundingSeed"
    )
    seed_parser.set_defaults(func=cmd_new_seed)

    inspect = commands.add_parser(
        "inspect",
        help="decrypt a key file and print its public part as JSON",
        description=(
            "Print {kind, public_key|peer_id} as one JSON line. Password env default: "
            f"{DEFAULT_MINA_PASSWORD_ENV} if set, else {DEFAULT_LIBP2P_PASSWORD_ENV}."
        ),
    )
    inspect.add_argument("file", metavar="FILE")
    inspect.add_argument("--password-env", metavar="VAR")
    inspect.add_argument("--show-secret", action="store_true", help="also print the secret")
    inspect.set_defaults(func=cmd_inspect)

    export = commands.add_parser(
        "export",
        help="write the stack's funding key files to a directory",
        description="Write the funding keys from the stack outputs. Prints no secret.",
        epilog=EXPORT_LAYOUT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_outputs_source(export, required=True)
    export.add_argument("--out", required=True, metavar="DIR")
    export.set_defaults(func=cmd_export)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        args.func(args)
    except (CliError, ValueError, OSError) as error:
        # ValueError covers every key-library error (KeyFileError, MinaKeyError, ...).
        lines = str(error).strip().splitlines() or [type(error).__name__]
        return bad_input(one_line(lines[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
