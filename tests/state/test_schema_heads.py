"""Opening a database checks its schema without Alembic when it is at ``HEAD``, and with Alembic otherwise.

Every command opens the state database (and a sync the staging tables too); importing Alembic to learn "yes, at
head" cost a quarter of a second of each start-up. ``HEAD`` is written down beside each migrations directory, so it
must stay Alembic's head: these tests fail when a migration is added without moving it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from woobridge.erp.staging import database as staging_database
from woobridge.state import StateDB
from woobridge.state import database as state_database


@pytest.mark.parametrize("module", [state_database, staging_database], ids=["state", "staging"])
def test_head_is_alembics_only_head(module: ModuleType) -> None:
    assert ScriptDirectory.from_config(module.alembic_config()).get_heads() == [module.HEAD]


def test_a_database_at_head_is_opened_without_importing_alembic(tmp_path: Path) -> None:
    state_url = f"sqlite:///{tmp_path / 'state.sqlite'}"
    staging_url = f"sqlite:///{tmp_path / 'staging.sqlite'}"
    StateDB(state_url).close()  # created and migrated here: Alembic runs in this process
    engine = staging_database.open_engine(staging_url)
    staging_database.upgrade(engine)
    engine.dispose()
    probe = (
        "import sys\n"
        "from woobridge.erp.staging import database\n"
        "from woobridge.state import StateDB\n"
        f"StateDB({state_url!r}).close()\n"
        f"engine = database.open_engine({staging_url!r})\n"
        "database.upgrade(engine)\n"
        "engine.dispose()\n"
        "print('ALEMBIC', 'alembic' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert "ALEMBIC False" in done.stdout, done.stdout + done.stderr


def test_a_database_behind_head_is_still_migrated(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.sqlite'}"
    db = StateDB(url)
    config = state_database.alembic_config()
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "-1")
    assert "sku_index" not in inspect(db.engine).get_table_names()
    db.close()
    again = StateDB(url)
    assert "sku_index" in inspect(again.engine).get_table_names()
    with again.engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == state_database.HEAD
    again.close()


def test_staging_tables_behind_head_are_still_migrated(tmp_path: Path) -> None:
    engine = staging_database.open_engine(f"sqlite:///{tmp_path / 'staging.sqlite'}")
    staging_database.upgrade(engine)
    config = staging_database.alembic_config()
    with staging_database.transaction(engine) as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert staging_database.current_revision(engine) is None
    staging_database.upgrade(engine)
    assert staging_database.current_revision(engine) == staging_database.HEAD
    engine.dispose()
