"""Engine, sessions and migrations for SQLite (the zero-setup default) and PostgreSQL.

Alembic (with Mako and Pygments behind it) takes a third of the bot's import time, and on
almost every start there is nothing to migrate. So ``migrate`` first compares the database's
``alembic_version`` with the heads read straight from the migration files
(``script_heads``) and imports Alembic only when they differ or cannot be read plainly.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

import migrations

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Connection

MIGRATIONS_DIR = Path(migrations.__file__).resolve().parent


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine; on SQLite, WAL mode, foreign keys and a busy timeout are switched on."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            # WAL lets the web handlers read while the worker writes.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_async_engine(url, pool_pre_ping=True, **kwargs)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[Any]:
    """Sessions that keep loaded attributes after commit (we render from them)."""
    return async_sessionmaker(engine, expire_on_commit=False)


# The assignments Alembic writes into every revision file (annotated or not).
_REVISION = re.compile(r"^revision(?:\s*:[^=\n]+)?\s*=\s*['\"]([^'\"]+)['\"]\s*$", re.M)
_DOWN_REVISION = re.compile(r"^down_revision(?:\s*:[^=\n]+)?\s*=\s*(.+?)\s*$", re.M)
_QUOTED = re.compile(r"['\"]([^'\"]+)['\"]")


def script_heads(versions: Path = MIGRATIONS_DIR / "versions") -> set[str] | None:
    """The head revisions of the migration files, read as text without importing Alembic.

    None when any file is not in the plain form Alembic generates (say, a merge revision
    with a tuple of parents): then only Alembic can tell.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in versions.glob("*.py"):
        source = path.read_text(encoding="utf-8")
        rev, down = _REVISION.findall(source), _DOWN_REVISION.findall(source)
        if len(rev) != 1 or len(down) != 1:
            return None
        revisions.add(rev[0])
        if down[0] != "None":
            parent = _QUOTED.fullmatch(down[0])
            if parent is None:
                return None
            parents.add(parent.group(1))
    heads = revisions - parents
    return heads if heads and parents <= revisions else None


async def at_heads(engine: AsyncEngine) -> bool:
    """True when the database is known to be at the migration files' heads, without Alembic."""
    heads = script_heads()
    if heads is None:
        return False
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT version_num FROM alembic_version"))
            current = {str(row[0]) for row in rows}
    except SQLAlchemyError:  # no version table yet: a fresh database
        return False
    return current == heads


def _alembic_config(connection: Connection) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


async def migrate(engine: AsyncEngine, revision: str = "head") -> None:
    """Upgrade the database to ``revision`` (idempotent; quick when already at head)."""
    if revision == "head" and await at_heads(engine):
        return

    def _upgrade(conn: Connection) -> None:
        from alembic import command

        command.upgrade(_alembic_config(conn), revision)

    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)


async def pending_migrations(engine: AsyncEngine) -> list[str]:
    """Revisions not yet applied; empty when the schema is current."""

    def _pending(conn: Connection) -> list[str]:
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        script = ScriptDirectory.from_config(_alembic_config(conn))
        current = set(MigrationContext.configure(conn).get_current_heads())
        heads = script.get_revisions("heads")
        pending: list[str] = []
        for head in heads:
            for rev in script.iterate_revisions(head.revision, "base"):
                if rev.revision in current:
                    break
                pending.append(rev.revision)
        return pending

    async with engine.connect() as conn:
        return await conn.run_sync(_pending)
