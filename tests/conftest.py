"""Shared fixtures live in tests/plugins/, one module per stand-in, registered here."""

pytest_plugins = [
    "tests.plugins.dexsim",
    "tests.plugins.slack",
    "tests.plugins.db",
    "tests.plugins.bot",
    "tests.plugins.ci",
]
