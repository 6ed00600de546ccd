"""``python -m bot`` is the same as the ``dexbot`` console script."""

from bot.cli import main

raise SystemExit(main())
