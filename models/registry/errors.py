"""Registry errors. They subclass nothing from `service`: the registry is offline-side code."""

from __future__ import annotations


class RegistryError(Exception):
    """Base for every registry failure; the message is meant for a human."""


class CatalogueError(RegistryError):
    pass


class ChecksumMismatch(RegistryError):
    pass


class ModelNotPulled(RegistryError):
    pass


class FetchError(RegistryError):
    pass
