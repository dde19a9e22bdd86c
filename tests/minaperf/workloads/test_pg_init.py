"""pg-init.sh as an initdb hook of the (emulated) postgres image, against real servers."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from .conftest import (
    ASSETS,
    TEST_SCHEMA,
    InitFailedError,
    PgImage,
    make_tree_readable,
    pins_for,
    write_schema,
)

pytestmark = pytest.mark.postgres

Factory = Callable[..., PgImage]


def _image(
    pg_factory: Factory,
    files: Mapping[str, str] = TEST_SCHEMA,
    *,
    executable: bool = True,
    pinned: list[str] | None = None,
) -> PgImage:
    img = pg_factory(password="init-test-pw", server_args=[], db="logs")
    schema = write_schema(img.base / "schema", files)
    (img.base / "pins").write_text(pins_for(schema, pinned))
    initdb_d = img.base / "initdb.d"
    initdb_d.mkdir()
    hook = initdb_d / "10-minaperf-schema.sh"
    shutil.copy(ASSETS / "pg-init.sh", hook)
    hook.chmod(0o755 if executable else 0o644)
    make_tree_readable(img.base)
    img.initdb_d = initdb_d
    img.extra_env = {"SCHEMA_DIR": str(schema), "SCHEMA_SHA256_FILE": str(img.base / "pins")}
    return img


def _applied(img: PgImage) -> list[tuple[str, int]]:
    with img.connect() as conn:
        return [(r[0], r[1]) for r in conn.execute("SELECT file, txid FROM applied ORDER BY seq")]


def _has_table(img: PgImage, name: str) -> bool:
    with img.connect() as conn:
        row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()
        assert row is not None
        return bool(row[0])


def test_applies_pinned_files_in_order_each_in_one_transaction(pg_factory: Factory) -> None:
    img = _image(pg_factory)
    img.start()
    rows = _applied(img)
    assert [f for f, _ in rows] == ["001", "002", "010"]
    assert len({tx for _, tx in rows}) == 3  # one transaction per file
    assert "verified: 001-base.sql 002-functions.sql 010-later.sql" in img.last_init_output
    assert _has_table(img, "deployment")


def test_second_start_of_initialised_data_dir_does_not_rerun(pg_factory: Factory) -> None:
    img = _image(pg_factory)
    img.start()
    before = _applied(img)
    img.stop()
    # If the hook ran again it would now fail (tampered file) or re-insert rows.
    (img.base / "schema" / "010-later.sql").write_text("SELECT 1/0;\n")
    img.start()
    img.stop()
    img.start()
    assert img.init_runs == 1
    assert _applied(img) == before


def test_sourced_hook_behaves_like_executed_one(pg_factory: Factory) -> None:
    img = _image(pg_factory, executable=False)
    img.start()
    assert [f for f, _ in _applied(img)] == ["001", "002", "010"]


def test_tampered_file_is_refused_and_nothing_applied(pg_factory: Factory) -> None:
    img = _image(pg_factory)
    (img.base / "schema" / "002-functions.sql").write_text("DROP TABLE applied;\n")
    with pytest.raises(InitFailedError, match=r"checksum mismatch for 002-functions\.sql"):
        img.start()
    # Like the image: the data dir is initialised now, the next start skips init.
    img.start()
    assert not _has_table(img, "applied")
    assert not _has_table(img, "deployment")


def test_missing_pinned_file_is_refused(pg_factory: Factory) -> None:
    img = _image(pg_factory)
    (img.base / "schema" / "010-later.sql").unlink()
    with pytest.raises(InitFailedError, match=r"010-later\.sql is missing"):
        img.start()
    img.start()
    assert not _has_table(img, "applied")


def test_sql_error_rolls_back_that_file_and_stops(pg_factory: Factory) -> None:
    files = {
        **TEST_SCHEMA,
        "005-broken.sql": "INSERT INTO applied (file) VALUES ('005');\nSELEC oops;\n",
    }
    img = _image(pg_factory, files)
    with pytest.raises(InitFailedError, match=r"applying 005-broken\.sql failed"):
        img.start()
    img.start()
    assert [f for f, _ in _applied(img)] == ["001", "002"]


def test_only_pinned_files_are_applied(pg_factory: Factory) -> None:
    files = {**TEST_SCHEMA, "005-stray.sql": "INSERT INTO applied (file) VALUES ('stray');\n"}
    img = _image(pg_factory, files, pinned=sorted(TEST_SCHEMA))
    img.start()
    assert [f for f, _ in _applied(img)] == ["001", "002", "010"]


def test_malformed_pin_list_is_refused(pg_factory: Factory, tmp_path: Path) -> None:
    img = _image(pg_factory)
    (img.base / "pins").write_text("TODO  001-base.sql\n")
    with pytest.raises(InitFailedError, match="not a hex SHA-256"):
        img.start()
