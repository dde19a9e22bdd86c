"""Real PostgreSQL servers for the database start-up tests, plus shell-script helpers.

`PgImage` emulates what the official postgres image's entrypoint does with one data directory:
on a start with an empty PGDATA it runs initdb (superuser POSTGRES_USER, password from a file),
adds a password rule for TCP clients, starts a socket-only temporary server with the real server
arguments, creates POSTGRES_DB, runs /docker-entrypoint-initdb.d files in lexical order (an
executable *.sh as a child process, *.sql through psql with ON_ERROR_STOP) and stops the temporary
server; a failing init file aborts the start and leaves the data directory initialised, as the image
does. On a start with a non-empty PGDATA (PG_VERSION present) it skips all of that. Then it runs
`postgres <server args>` listening on 127.0.0.1 at a random free port.

Binaries: $MINAPERF_PG_BINDIR, else the directory of `initdb` on PATH, else the newest
/usr/lib/postgresql/<ver>/bin (Debian layout). initdb and postgres refuse to run as root, so under
root the server processes run as the `postgres` user (created by Debian's `postgresql-common`), or
$MINAPERF_PG_OS_USER, or `nobody`; subprocess's `user=`/`group=` switch ids, so the environment
(and PGPASSWORD in it) passes unchanged and nothing secret lands on a command line.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

ASSETS = Path(__file__).resolve().parents[3] / "minaperf" / "assets"
SUPERUSER = "postgres"


def find_pg_bindir() -> Path | None:
    env = os.environ.get("MINAPERF_PG_BINDIR")
    candidates: list[Path] = [Path(env)] if env else []
    which = shutil.which("initdb")
    if which:
        candidates.append(Path(which).resolve().parent)

    def version(p: Path) -> tuple[int, ...]:
        try:
            return tuple(int(x) for x in p.parent.name.split("."))
        except ValueError:
            return (0,)

    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    for c in candidates:
        if all((c / b).is_file() for b in ("initdb", "postgres", "psql")):
            return c
    return None


@dataclass(frozen=True)
class RunAs:
    """Who runs initdb/postgres/init hooks: None = this process (not root)."""

    uid: int | None
    gid: int | None

    def popen_kwargs(self) -> dict[str, object]:
        if self.uid is None:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def own(self, path: Path) -> None:
        if self.uid is not None:
            os.chown(path, self.uid, self.gid if self.gid is not None else -1)


def pick_run_as() -> RunAs:
    if os.geteuid() != 0:
        return RunAs(None, None)
    for name in (os.environ.get("MINAPERF_PG_OS_USER"), "postgres", "nobody"):
        if not name:
            continue
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            continue
        return RunAs(pw.pw_uid, pw.pw_gid)
    pytest.skip("running as root and no unprivileged user (postgres/nobody) to run PostgreSQL")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class InitFailedError(RuntimeError):
    """An init file failed; like the image, the data directory stays initialised."""


@dataclass
class PgImage:
    """One emulated postgres-image container lifecycle over a persistent data directory."""

    bindir: Path
    run_as: RunAs
    base: Path
    password: str
    server_args: Sequence[str]
    initdb_d: Path | None = None
    db: str = SUPERUSER
    extra_env: Mapping[str, str] = field(default_factory=dict)
    port: int = 0
    init_runs: int = 0
    last_init_output: str = ""
    proc: subprocess.Popen[bytes] | None = None

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def sockdir(self) -> Path:
        return self.base / "run"

    @property
    def log(self) -> Path:
        return self.base / "server.log"

    def env(self, **more: str) -> dict[str, str]:
        env = {
            "PATH": f"{self.bindir}:/usr/bin:/bin",
            "HOME": str(self.base),
            "LC_ALL": "C.UTF-8",
            "POSTGRES_USER": SUPERUSER,
            "POSTGRES_DB": self.db,
            "POSTGRES_PASSWORD": self.password,
            "PGPASSWORD": self.password,
            "PGDATA": str(self.data),
        }
        env.update(self.extra_env)
        env.update(more)
        return env

    def _run(self, argv: Sequence[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(argv),
            env=dict(env),
            cwd=self.base,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            **self.run_as.popen_kwargs(),  # type: ignore[arg-type]
        )

    # -- server processes ------------------------------------------------------------------
    def _spawn(self, extra: Sequence[str]) -> None:
        self.sockdir.mkdir(exist_ok=True)
        self.run_as.own(self.sockdir)
        logf = self.log.open("ab")
        self.proc = subprocess.Popen(
            [
                str(self.bindir / "postgres"),
                "-D",
                str(self.data),
                *self.server_args,
                *extra,
                "-c",
                f"unix_socket_directories={self.sockdir}",
            ],
            env=self.env(),
            cwd=self.base,
            stdout=logf,
            stderr=subprocess.STDOUT,
            **self.run_as.popen_kwargs(),  # type: ignore[arg-type]
        )
        logf.close()

    def _wait_ready(self, host: str) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"postgres exited {self.proc.returncode}:\n{self.log.read_text()}"
                )
            r = self._run(
                [
                    str(self.bindir / "psql"),
                    "-X",
                    "-At",
                    "-h",
                    host,
                    "-p",
                    str(self.port),
                    "-U",
                    SUPERUSER,
                    "-d",
                    "postgres",
                    "-c",
                    "SELECT 1",
                ],
                self.env(),
            )
            if r.returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError(f"postgres did not become ready:\n{self.log.read_text()}")

    def _stop_proc(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(2)  # SIGINT = fast shutdown
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    # -- the image's entrypoint --------------------------------------------------------------
    def _initialise(self) -> None:
        self.init_runs += 1
        pwfile = self.base / "pwfile"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o600)
        self.run_as.own(pwfile)
        r = self._run(
            [
                str(self.bindir / "initdb"),
                f"--username={SUPERUSER}",
                f"--pwfile={pwfile}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-D",
                str(self.data),
            ],
            self.env(),
        )
        pwfile.unlink()
        if r.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{r.stdout}\n{r.stderr}")
        with (self.data / "pg_hba.conf").open("a") as f:
            f.write("\nhost all all all scram-sha-256\n")
        # Temporary server: socket only, real server args (like docker_temp_server_start).
        self._spawn(["-c", "listen_addresses=", "-p", str(self.port)])
        try:
            self._wait_ready(str(self.sockdir))
            sock_env = self.env(PGHOST=str(self.sockdir), PGPORT=str(self.port))
            psql = [
                str(self.bindir / "psql"),
                "-X",
                "-v",
                "ON_ERROR_STOP=1",
                "--no-password",
                "--username",
                SUPERUSER,
            ]
            if self.db != SUPERUSER:
                r = self._run(
                    [*psql, "--dbname", "postgres", "-c", f'CREATE DATABASE "{self.db}"'], sock_env
                )
                if r.returncode != 0:
                    raise RuntimeError(r.stderr)
            if self.initdb_d is not None:
                for f in sorted(self.initdb_d.iterdir(), key=lambda p: p.name.encode()):
                    if f.name.endswith(".sh") and os.access(f, os.X_OK):
                        r = self._run([str(f)], sock_env)
                    elif f.name.endswith(".sh"):
                        r = self._run(["bash", "-c", '. "$1"', "initdb-source", str(f)], sock_env)
                    elif f.name.endswith(".sql"):
                        r = self._run([*psql, "--dbname", self.db, "-f", str(f)], sock_env)
                    else:
                        continue
                    self.last_init_output = r.stdout + r.stderr
                    if r.returncode != 0:
                        raise InitFailedError(
                            f"{f.name} exited {r.returncode}:\n{r.stdout}{r.stderr}"
                        )
        finally:
            self._stop_proc()

    def start(self) -> None:
        if not self.port:
            self.port = free_port()
        self.base.chmod(0o755)
        self.run_as.own(self.base)
        version = self.data / "PG_VERSION"
        if not (version.is_file() and version.stat().st_size > 0):
            self._initialise()
        self._spawn(["-c", "listen_addresses=127.0.0.1", "-p", str(self.port)])
        self._wait_ready("127.0.0.1")

    def stop(self) -> None:
        self._stop_proc()

    # -- clients ----------------------------------------------------------------------------
    def conninfo(self, dbname: str | None = None) -> dict[str, object]:
        return {
            "host": "127.0.0.1",
            "port": self.port,
            "user": SUPERUSER,
            "password": self.password,
            "dbname": dbname or self.db,
        }

    def connect(self, dbname: str | None = None) -> psycopg.Connection:
        return psycopg.connect(**self.conninfo(dbname), autocommit=True)  # type: ignore[arg-type]

    def client_env(self, dbname: str | None = None, **more: str) -> dict[str, str]:
        """Env for a client script (PG* connection variables; password only in PGPASSWORD)."""
        return {
            "PATH": f"{self.bindir}:/usr/bin:/bin",
            "HOME": str(self.base),
            "LC_ALL": "C.UTF-8",
            "PGHOST": "127.0.0.1",
            "PGPORT": str(self.port),
            "PGUSER": SUPERUSER,
            "PGDATABASE": dbname or self.db,
            "PGPASSWORD": self.password,
            **more,
        }


def make_tree_readable(path: Path) -> None:
    """The server user must read hook files and schema files placed by root."""
    for p in [path, *path.rglob("*")]:
        mode = p.stat().st_mode
        p.chmod(
            mode
            | stat.S_IRUSR
            | stat.S_IRGRP
            | stat.S_IROTH
            | (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH if p.is_dir() else 0)
        )


# Our own test schema (not upstream SQL): the tables and function the consumers rely on
# (`deployment`, `get_max_deployment_id()`, reference §3) plus a log of applied files.
TEST_SCHEMA: dict[str, str] = {
    "001-base.sql": (
        "CREATE TABLE applied (seq serial PRIMARY KEY, file text NOT NULL, txid bigint NOT NULL"
        " DEFAULT txid_current());\n"
        "INSERT INTO applied (file) VALUES ('001');\n"
        "CREATE TABLE deployment (deployment_id SERIAL PRIMARY KEY,"
        " metadata_json JSONB NOT NULL);\n"
    ),
    "002-functions.sql": (
        "INSERT INTO applied (file) VALUES ('002');\n"
        "CREATE FUNCTION get_max_deployment_id() RETURNS integer LANGUAGE sql AS\n"
        "$$ SELECT max(deployment_id) FROM deployment $$;\n"
    ),
    "010-later.sql": "INSERT INTO applied (file) VALUES ('010');\n",
}


def write_schema(d: Path, files: Mapping[str, str] = TEST_SCHEMA) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (d / name).write_text(text)
    return d


def pins_for(d: Path, names: Sequence[str] | None = None) -> str:
    import hashlib

    names = sorted(names if names is not None else [p.name for p in d.iterdir() if p.is_file()])
    return "".join(f"{hashlib.sha256((d / n).read_bytes()).hexdigest()}  {n}\n" for n in names)


@pytest.fixture(scope="session")
def pg_bindir() -> Path:
    b = find_pg_bindir()
    if b is None:
        pytest.skip("PostgreSQL server binaries not found (apt-get install postgresql)")
    return b


@pytest.fixture(scope="session")
def run_as() -> RunAs:
    return pick_run_as()


@pytest.fixture
def pg_base() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="minaperf-pg-"))
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg_factory(pg_bindir: Path, run_as: RunAs) -> Iterator[type]:
    """Build PgImage instances; every one is stopped and its files removed afterwards."""
    made: list[PgImage] = []

    def factory(**kw: object) -> PgImage:
        base = Path(tempfile.mkdtemp(prefix="minaperf-pg-"))
        img = PgImage(bindir=pg_bindir, run_as=run_as, base=base, **kw)  # type: ignore[arg-type]
        made.append(img)
        return img

    yield factory  # type: ignore[misc]
    for img in made:
        with contextlib.suppress(Exception):
            img.stop()
        shutil.rmtree(img.base, ignore_errors=True)


GENERATED_PASSWORD = "p@ss:w/rd?#[]%&=+ $!'\"\\~;,é"


@pytest.fixture(scope="session")
def schema_server(pg_bindir: Path, run_as: RunAs) -> Iterator[PgImage]:
    """One server (database `logs`) initialised through pg-init.sh with the test schema."""
    base = Path(tempfile.mkdtemp(prefix="minaperf-pg-"))
    schema = write_schema(base / "schema")
    (base / "pins").write_text(pins_for(schema))
    initdb_d = base / "initdb.d"
    initdb_d.mkdir()
    shutil.copy(ASSETS / "pg-init.sh", initdb_d / "10-minaperf-schema.sh")
    (initdb_d / "10-minaperf-schema.sh").chmod(0o755)
    make_tree_readable(base)
    img = PgImage(
        bindir=pg_bindir,
        run_as=run_as,
        base=base,
        password=GENERATED_PASSWORD,
        server_args=["-c", "max_connections=50"],
        initdb_d=initdb_d,
        db="logs",
        extra_env={"SCHEMA_DIR": str(schema), "SCHEMA_SHA256_FILE": str(base / "pins")},
    )
    try:
        img.start()
        yield img
    finally:
        img.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def fresh_db(schema_server: PgImage, request: pytest.FixtureRequest) -> Iterator[str]:
    """A database cloned from the initialised `logs` database, dropped afterwards."""
    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[:50].lower()
    with schema_server.connect("postgres") as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE logs')
    yield name
    with schema_server.connect("postgres") as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def busybox_bin(tmp_path_factory: pytest.TempPathFactory, pg_bindir_optional: Path | None) -> Path:
    """A PATH directory holding only busybox applets (plus curl and psql, as the images have)."""
    bb = shutil.which("busybox")
    if bb is None:
        pytest.skip("busybox not installed (apt-get install busybox)")
    d = tmp_path_factory.mktemp("busybox-bin")
    applets = subprocess.run([bb, "--list"], capture_output=True, text=True, check=True).stdout
    for a in applets.split():
        (d / a).symlink_to(bb)
    for tool in ("curl",):
        path = shutil.which(tool)
        if path:
            (d / tool).symlink_to(path)
    if pg_bindir_optional is not None:
        (d / "psql").symlink_to(pg_bindir_optional / "psql")
    d.chmod(0o755)
    return d


@pytest.fixture(scope="session")
def pg_bindir_optional() -> Path | None:
    return find_pg_bindir()
