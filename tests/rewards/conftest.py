"""Fixtures of the rewards tests: the invoice tests' devnode-backed stores, for purchases paid for real."""
from tests.invoices.conftest import merchant, nodes, rates, shop  # noqa: F401 - fixtures used by rewards tests
