"""Alembic migrations for dexbot's store (run with ``dexbot migrate``)."""
