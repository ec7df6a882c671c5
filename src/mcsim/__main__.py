"""``python -m mcsim`` runs the CLI."""

from mcsim.cli import console

console()
