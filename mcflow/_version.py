"""The installed version, in a module of its own so any layer can read it without a cycle."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__ = version("mcflow")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
