"""The package version (a leaf module: the provider info reads it without importing the package facade)."""

__version__ = "0.1.0"
