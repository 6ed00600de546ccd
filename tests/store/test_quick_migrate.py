"""``migrate`` skips Alembic when the database is already at head: the heads it reads from
the revision files as text must be Alembic's own, and anything it cannot read plainly, or a
database that is behind, goes through Alembic as before. On SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text

from bot.store.db import MIGRATIONS_DIR, at_heads, create_engine, migrate, script_heads


def alembic_heads() -> set[str]:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return set(ScriptDirectory.from_config(cfg).get_heads())


def test_the_heads_read_as_text_are_alembics() -> None:
    assert script_heads() == alembic_heads()


def test_a_revision_file_in_an_unusual_form_leaves_it_to_alembic(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text('revision = "a"\ndown_revision = None\n')
    (tmp_path / "b.py").write_text('revision: str = "b"\ndown_revision: str | None = "a"\n')
    assert script_heads(tmp_path) == {"b"}
    (tmp_path / "c.py").write_text('revision = "c"\ndown_revision = ("a", "b")\n')
    assert script_heads(tmp_path) is None


async def test_only_a_database_at_the_heads_skips_alembic(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        assert not await at_heads(engine)  # fresh: no version table, Alembic creates it
        await migrate(engine)
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT version_num FROM alembic_version"))
            assert {r[0] for r in rows} == alembic_heads()
        assert await at_heads(engine)
        await migrate(engine)  # nothing to do, nothing breaks
        async with engine.begin() as conn:  # as if a newer revision file had been added
            await conn.execute(text("UPDATE alembic_version SET version_num = 'older'"))
        assert not await at_heads(engine)
    finally:
        await engine.dispose()
