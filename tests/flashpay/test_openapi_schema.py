"""The whole OpenAPI schema generates without warnings and validates (README and docs rely on it)."""
from io import StringIO

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_schema_generates_without_warnings_and_validates(tmp_path):
    out = tmp_path / "schema.yaml"
    # --fail-on-warn turns every drf-spectacular warning or error into a failure.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out), stderr=StringIO())
    text = out.read_text()
    for path in ("/api/v1/health", "/api/v1/stores/{storeId}/invoices", "/api/v1/api-keys/current"):
        assert path in text
