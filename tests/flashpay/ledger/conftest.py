"""Fixtures of the ledger tests."""
import pytest

from flashpay.ledger import services


@pytest.fixture(params=["sql", "orm"])
def write_path(request, monkeypatch):
    """Run a test on both write paths: PostgreSQL's one-statement path and the portable ORM one."""
    monkeypatch.setattr(services, "_PG_FAST_PATH", request.param == "sql")
    return request.param
