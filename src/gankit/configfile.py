"""Reading a config file: plain YAML data only (no tags that run code), refused with one line when it is not
valid, not a mapping, or written by a newer gankit."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from gankit.errors import ConfigError

# A config is a page of settings: these bounds refuse, in one line, a file (or a YAML alias "bomb") that
# would take memory without bound to read or to print (str() of an expanded alias tree grows exponentially).
MAX_BYTES = 1_000_000
MAX_WEIGHT = 200_000  # nodes after alias expansion, a scalar weighing 1 per started 100 characters


class _Duplicate(Exception):
    def __init__(self, key: str, first: int, second: int) -> None:
        super().__init__(key)
        self.key, self.first, self.second = key, first, second


class _Loader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a key given twice in one mapping (YAML says unique; PyYAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[str, int] = {}
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                line = key_node.start_mark.line + 1
                if key_node.value in seen:
                    raise _Duplicate(key_node.value, seen[key_node.value], line)
                seen[key_node.value] = line
        return super().construct_mapping(node, deep)


def _weight(node: yaml.Node, memo: dict[int, int]) -> int:
    """The size of `node` with every alias expanded, capped just past MAX_WEIGHT (shared nodes counted once
    per use, computed once: a bomb is measured in linear time)."""
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = MAX_WEIGHT + 1  # a node reached again inside itself (a recursive alias) is too large
    if isinstance(node, yaml.ScalarNode):
        found = 1 + len(str(node.value)) // 100
    elif isinstance(node, yaml.SequenceNode):
        found = 1 + sum(_weight(child, memo) for child in node.value)
    else:
        found = 1 + sum(_weight(k, memo) + _weight(v, memo) for k, v in node.value)
    memo[key] = min(found, MAX_WEIGHT + 1)
    return memo[key]


def read_yaml_data(path: str | Path) -> Any:
    """The data of a YAML file: plain data only, duplicate keys and oversized documents refused (ConfigError)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ConfigError(f"config file '{path}' is {size:,} bytes, over gankit's limit of {MAX_BYTES:,}: "
                              "a config is a page of settings")
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read config file '{path}': {getattr(err, 'strerror', None) or err}") from None
    try:
        return yaml_data(text, f"config file '{path}'")
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        line = f" at line {where.line + 1}" if where else ""
        raise ConfigError(f"config file '{path}' is not valid YAML{line}: fix the syntax") from None


def yaml_data(text: str, what: str) -> Any:
    """The plain data of YAML `text` under the same bounds as a config file (`what` names it in errors, e.g.
    "--set description"): size, alias expansion, duplicate keys, depth, tags. A syntax error is a
    yaml.YAMLError for the caller (a --set value that is not YAML is taken as text)."""
    if len(text) > MAX_BYTES:
        raise ConfigError(f"{what} is {len(text):,} characters, over gankit's limit of {MAX_BYTES:,}: "
                          "a config is a page of settings")
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _weight(node, {}) > MAX_WEIGHT:
            raise ConfigError(f"{what} expands to more than {MAX_WEIGHT:,} values (a very long list, YAML "
                              "aliases repeating a section, or a recursive alias): a config is a page of settings")
        return loader.construct_document(node)
    except _Duplicate as dup:
        raise ConfigError(f"{what} sets '{dup.key}' twice in one section (lines {dup.first} and "
                          f"{dup.second}): keep one") from None
    except RecursionError:
        raise ConfigError(f"{what} is nested too deeply to be a config") from None
    except yaml.constructor.ConstructorError as err:  # e.g. !!python/object/apply: code, refused
        where = getattr(err, "problem_mark", None)
        line = f" at line {where.line + 1}" if where else ""
        raise ConfigError(f"{what} uses a tag gankit does not load{line} ({_tag(err)}): "
                          "a config is plain data (numbers, text, lists, sections)") from None
    finally:
        loader.dispose()


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file '{path}' not found")
    raw = read_yaml_data(path)
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
