"""The two consoles every command prints through: results on stdout, progress and errors on stderr.

Kept apart from the Typer app so that command modules can import them without importing the app.
"""

from __future__ import annotations

from rich.console import Console

stderr = Console(stderr=True)
stdout = Console()
