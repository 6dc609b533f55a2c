"""User-facing errors: one clear line, exit code 2, never a traceback (unless --debug)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class GankitError(Exception):
    """Something the user asked for is wrong; the message says what and what to do."""

    exit_code = 2


class ConfigError(GankitError):
    """A config key, value or combination is invalid."""


class UnknownSetting(ConfigError):
    """A part given a setting it does not take: which one, and (once a section names it) where."""

    def __init__(self, message: str, key: str, section: str | None = None) -> None:
        super().__init__(message)
        self.key, self.section = key, section


def in_section(err: ConfigError, section: str) -> ConfigError:
    """`err` prefixed with the config section it arose in, keeping what it knows (an UnknownSetting's key)."""
    if isinstance(err, UnknownSetting):
        return UnknownSetting(f"{section}: {err}", err.key, section)
    return ConfigError(f"{section}: {err}")


class DataError(GankitError):
    """Data is missing, empty or unreadable."""


class RunDirError(GankitError):
    """A run directory is missing, incomplete or would be overwritten."""


class WriteError(GankitError):
    """An output could not be written (disk full, read-only, no permission); what was on disk is kept."""


def closest(name: str, choices: Iterable[str]) -> str | None:
    """The choice most similar to `name`, or None when nothing is close."""
    matches = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.5)
    return matches[0] if matches else None


def unknown_choice(what: str, name: str, choices: Iterable[str]) -> ConfigError:
    """An error for a name that is not among `choices`, suggesting the closest one."""
    choices = sorted(choices)
    guess = closest(name, choices)
    hint = f"did you mean '{guess}'? " if guess else ""
    return ConfigError(f"unknown {what} '{name}': {hint}valid choices: {', '.join(choices)}")
