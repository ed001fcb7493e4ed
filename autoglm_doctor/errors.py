"""Exit codes and the one-line usage error: a leaf module every layer may import (the CLI, the
commands, logscan), so no module has to import the CLI back."""

from __future__ import annotations

EXIT_OK, EXIT_GATE, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A one-line error for the user; exit 2."""
