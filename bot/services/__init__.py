"""Use cases over the store, the DEX client and Slack's directory (the application layer).

``bot.domain`` stays pure; these modules orchestrate it with the adapters.
"""
