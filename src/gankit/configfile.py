"""Reading a config file: plain YAML data only (no tags that run code), refused with one line when it is not
valid, not a mapping, or written by a newer gankit."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from gankit.errors import ConfigError


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file '{path}' not found")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        line = f" at line {where.line + 1}" if where else ""
        if isinstance(err, yaml.constructor.ConstructorError):  # e.g. !!python/object/apply: code, refused
            raise ConfigError(f"config file '{path}' uses a tag gankit does not load{line} ({_tag(err)}): "
                              "a config is plain data (numbers, text, lists, sections)") from None
        raise ConfigError(f"config file '{path}' is not valid YAML{line}: fix the syntax") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read config file '{path}': {getattr(err, 'strerror', None) or err}") from None
    if raw is None:
        raise ConfigError(f"config file '{path}' is empty: give it settings, or use --preset NAME")
    if not isinstance(raw, dict):
        raise ConfigError(f"config file '{path}' must be a mapping of settings (key: value), not a {type(raw).__name__}")
    check_written_by(raw, path)
    return raw


def _tag(err: yaml.YAMLError) -> str:
    found = re.search(r"tag '(?:tag:yaml.org,2002:)?([^']*)'", str(getattr(err, "problem", "")))
    return f"!!{found.group(1)}" if found else "an unknown tag"


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(m) for m in re.findall(r"\d+", str(text).split("+")[0])[:3])


def check_written_by(raw: dict[str, Any], path: str | Path) -> None:
    """Refuse a config (a run's config.yaml) written by a newer gankit: its settings or files may mean things
    this version does not know. The record is `versions: {gankit: ...}`, written with every run."""
    from gankit import __version__

    versions = raw.get("versions")
    written = versions.get("gankit") if isinstance(versions, dict) else None
    if written is not None and _version_tuple(written) > _version_tuple(__version__):
        raise ConfigError(f"'{path}' was written by gankit {written}, newer than this gankit {__version__}: "
                          "upgrade gankit (pip install -U gankit) to use it")
