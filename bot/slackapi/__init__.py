"""Adapters over the Slack Web API that the bot's services need (not listeners: those live in
``handlers/``)."""
