"""The integration tests' fixtures (the fake WMS on loopback) for the invariant tests."""

from tests.integration.conftest import wms

__all__ = ["wms"]
