"""``python -m bench``: the same as the ``rcbench`` command."""

from bench.cli import main

raise SystemExit(main())
