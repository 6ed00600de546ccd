"""Fixtures for the fake Slack Web API (filled in by the Slack emulation work)."""
