"""``python -m pytest_fairquant``: the ``fairquant`` command."""

from .cli import main

raise SystemExit(main())
