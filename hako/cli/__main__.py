"""``python -m hako.cli`` runs the CLI (same as the ``hako`` console script)."""

from hako.cli.main import main

main()
