"""Fixtures for the accounts tests."""
import pytest


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    # PBKDF2 makes every UserFactory() cost ~0.2 s; the tests do not exercise hashing strength.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
