"""``python -m stackr`` runs the CLI."""

from stackr.cli import main

raise SystemExit(main())
