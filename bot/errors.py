"""Errors the CLI turns into one line and exit code 2; a module of its own so that every verb can catch them
without loading the server, the engine or the platforms."""

from __future__ import annotations


class StartupError(Exception):
    """The bot cannot start; the message is one line telling the operator what to do."""
