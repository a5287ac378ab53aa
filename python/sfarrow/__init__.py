"""sfarrow: move data between Salesforce and Arrow, pandas and polars, fast.

The Rust core (``sfarrow._sfarrow``) does the work; this package is its typed Python face.
``sfarrow.testing`` holds a local Salesforce org emulator for offline tests.
"""

from sfarrow._sfarrow import __version__

__all__ = ["__version__"]
