"""Database fixtures: every store test runs on SQLite and on PostgreSQL.

PostgreSQL tests create and drop their own database on the server named by
``DEXBOT_TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``) and skip
with the reason when no server answers.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from bot.store.db import create_engine, migrate, session_factory

PG_ADMIN_URL = os.environ.get(
    "DEXBOT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


async def _pg_admin() -> asyncpg.Connection:
    try:
        return await asyncpg.connect(PG_ADMIN_URL, timeout=3)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL.split('@')[-1]}: {exc}")


async def _create_pg_database() -> str:
    admin = await _pg_admin()
    name = f"dexbot_test_{uuid.uuid4().hex[:12]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}"


async def _drop_pg_database(url: str) -> None:
    admin = await _pg_admin()
    await admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    await admin.close()


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for one test; dropped afterwards."""
    url = await _create_pg_database()
    try:
        yield url
    finally:
        await _drop_pg_database(url)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of an empty database, once per engine."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/dexbot.db"
        return
    url = await _create_pg_database()
    try:
        yield url
    finally:
        await _drop_pg_database(url)


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[object]:
    """A migrated engine on each database kind."""
    eng = create_engine(db_url)
    await migrate(eng)
    try:
        yield eng
    finally:
        await eng.dispose()


@pytest.fixture
def sessions(engine: object) -> object:
    """An async session factory on the migrated engine."""
    return session_factory(engine)  # type: ignore[arg-type]
