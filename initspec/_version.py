"""The package version, below every other module (the manifest records it)."""

__version__ = "0.1.0"
