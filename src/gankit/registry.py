"""A tiny registry of interchangeable parts (data sources, models, objectives).

A part is a factory function registered under a name. Its keyword parameters *are* its config:
`build(name, params, **injected)` checks `params` against the signature (unknown keys get the
closest match suggested), coerces YAML values to the annotated types, and fills in defaults,
so a resolved config always writes every default out.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any

from gankit.errors import ConfigError, UnknownSetting, closest, unknown_choice


def settings(part: dict[str, Any]) -> dict[str, Any]:
    """A part section's settings: everything but its name."""
    return {k: v for k, v in part.items() if k != "name"}


class Registry:
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._factories: dict[str, Callable[..., Any]] = {}
        self._summaries: dict[str, str] = {}

    def register(self, name: str, summary: str = "") -> Callable[[Callable], Callable]:
        def decorate(factory: Callable) -> Callable:
            if name in self._factories:
                raise ValueError(f"{self.kind} '{name}' registered twice")
            self._factories[name] = factory
            self._summaries[name] = summary or (inspect.getdoc(factory) or "").split("\n")[0]
            return factory

        return decorate

    def names(self) -> list[str]:
        return sorted(self._factories)

    def summary(self, name: str) -> str:
        return self._summaries[self._check(name)]

    def get(self, name: str) -> Callable[..., Any]:
        return self._factories[self._check(name)]

    def _check(self, name: str) -> str:
        if name not in self._factories:
            raise unknown_choice(self.kind, name, self._factories)
        return name

    def parameters(self, name: str, injected: tuple[str, ...] = ()) -> dict[str, inspect.Parameter]:
        """The user-settable parameters of a part: keyword parameters minus those the builder injects."""
        sig = inspect.signature(self.get(name))
        return {
            p.name: p
            for p in sig.parameters.values()
            if p.name not in injected and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
        }

    def resolve(self, name: str, params: dict[str, Any], injected: tuple[str, ...] = ()) -> dict[str, Any]:
        """`params` checked, coerced and completed with every default (the resolved config section)."""
        factory = self.get(name)
        allowed = self.parameters(name, injected)
        hints = typing.get_type_hints(factory)
        resolved: dict[str, Any] = {}
        for key, value in params.items():
            if key not in allowed:
                guess = closest(key, allowed)
                hint = f"did you mean '{guess}'? " if guess else ""
                valid = ", ".join(sorted(allowed)) or "(none)"
                raise UnknownSetting(f"{self.kind} '{name}' has no setting '{key}': {hint}valid settings: {valid}", key)
            resolved[key] = coerce(value, hints.get(key), f"{self.kind} '{name}' setting '{key}'")
        for key, param in allowed.items():
            if key not in resolved:
                if param.default is inspect.Parameter.empty:
                    raise ConfigError(f"{self.kind} '{name}' needs a value for '{key}'")
                resolved[key] = param.default
        return resolved

    def build(self, name: str, params: dict[str, Any], **injected: Any) -> Any:
        return self.get(name)(**self.resolve(name, params, tuple(injected)), **injected)


def coerce(value: Any, annotation: Any, where: str) -> Any:
    """Convert a YAML/CLI value to `annotation` (int, float, bool, str, tuple/list of those, Optional)."""
    if annotation is None or annotation is Any:
        return value
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return coerce(value, arg, where)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if errors else f"{where}: bad value {value!r}")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{where} must have {len(args)} items, got {len(value)}")
            return tuple(coerce(v, a, where) for v, a in zip(value, args))
        item = args[0] if args else Any
        items = [coerce(v, item, where) for v in value]
        return tuple(items) if origin is tuple else items
    if origin is typing.Literal:
        if value not in args:
            raise unknown_choice(f"value for {where}", value, [str(a) for a in args])
        return value
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where} must be true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
            raise ConfigError(f"{where} must be a whole number, got {value!r}")
        return int(value)
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"{where} must be text, got {value!r}")
        return str(value)
    return value
