"""Generators and discriminators, registered by architecture name (same name in both)."""

from gankit.models import conv, fast, mlp  # noqa: F401  (importing registers the architectures)
from gankit.models.base import (
    DISCRIMINATORS,
    GENERATORS,
    Discriminator,
    Generator,
    build_discriminator,
    build_generator,
)
from gankit.models.init import init_weights

__all__ = [
    "DISCRIMINATORS",
    "GENERATORS",
    "Discriminator",
    "Generator",
    "build_discriminator",
    "build_generator",
    "init_weights",
]
