"""Shared fixtures for the whole suite."""
import pytest
from rest_framework.test import APIClient

# Fixture modules shared across areas (devnode processes and the like) live in tests/fixtures/.
pytest_plugins: list[str] = ["tests.fixtures.lnd", "tests.fixtures.bitcoind"]


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()
