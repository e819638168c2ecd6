"""Alembic migrations: an empty database and one at the previous revision both reach head, data intact."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from services import migrate
from services.db import Database, utcnow


def test_an_empty_database_upgrades_to_head_and_matches_the_models(empty_db: Database):
    assert migrate.current_revision(empty_db.engine) is None
    migrate.upgrade(empty_db.engine)
    assert migrate.current_revision(empty_db.engine) == migrate.head_revision() == "0003"
    assert {"jobs", "job_events", "artifacts", "api_tokens"} <= set(
        inspect(empty_db.engine).get_table_names()
    )
    from services.models import Base

    with empty_db.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


def test_a_database_at_the_previous_revision_upgrades_and_keeps_its_jobs(empty_db: Database):
    migrate.upgrade(empty_db.engine, "0001")
    now = utcnow()
    with empty_db.write() as session:
        session.execute(
            text(
                "INSERT INTO jobs (id, kind, spec, spec_hash, owner, priority, state, cancel_requested,"
                " attempt, max_attempts, last_event_seq, created_at, updated_at) VALUES ('old-job',"
                " 'pretrain', '{}', 'h', 'alice', 0, 'succeeded', false, 1, 3, 0, :now, :now)"
            ),
            {"now": now.replace(tzinfo=None) if empty_db.dialect == "sqlite" else now},
        )
    migrate.upgrade(empty_db.engine)
    assert migrate.current_revision(empty_db.engine) == "0003"
    with empty_db.read() as session:
        row = session.execute(text("SELECT state, progress, worker_token_hash, params FROM jobs")).one()
    assert tuple(row) == ("succeeded", None, None, None)


def test_upgrade_twice_is_a_no_op(empty_db: Database):
    migrate.upgrade(empty_db.engine)
    migrate.upgrade(empty_db.engine)
    assert migrate.current_revision(empty_db.engine) == "0003"


def test_migrations_run_from_any_working_directory(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    code = (
        "from services.db import make_engine; from services import migrate; "
        f"e = make_engine({url!r}); migrate.upgrade(e); print(migrate.current_revision(e))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd="/", capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "0003"


def test_concurrent_upgrades_from_several_processes_all_succeed(empty_db: Database):
    url = empty_db.engine.url.render_as_string(hide_password=False)
    code = f"import services.db as db, services.migrate as m; m.upgrade(db.make_engine({url!r}))"
    runs = [
        subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True) for _ in range(3)
    ]
    errors = [run.communicate(timeout=120)[1] for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], errors
    assert migrate.current_revision(empty_db.engine) == "0003"
