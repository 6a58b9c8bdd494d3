"""Shared fixtures for the whole suite."""
import pytest
from rest_framework.test import APIClient

# Fixture modules shared across areas (devnode processes and the like) live in tests/fixtures/.
pytest_plugins: list[str] = ["tests.fixtures.lnd", "tests.fixtures.bitcoind"]


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    # PBKDF2 makes every user creation cost ~0.2 s; no test here measures hashing strength.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
