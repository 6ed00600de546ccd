"""Engine, sessions and migrations for SQLite (the zero-setup default) and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

import migrations

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


def _alembic_config(connection: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


async def migrate(engine: AsyncEngine, revision: str = "head") -> None:
    """Upgrade the database to ``revision`` (idempotent)."""

    def _upgrade(conn: Connection) -> None:
        command.upgrade(_alembic_config(conn), revision)

    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)


async def pending_migrations(engine: AsyncEngine) -> list[str]:
    """Revisions not yet applied; empty when the schema is current."""

    def _pending(conn: Connection) -> list[str]:
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
