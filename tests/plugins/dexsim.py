"""Fixtures for the DEX simulator (filled in by the simulator work)."""
