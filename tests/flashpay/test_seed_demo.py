import re
from io import StringIO

import pytest
from django.core.management import call_command

from flashpay.accounts.models import APIKey, Store


def _seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_seed_demo_prints_a_working_key_and_stays_single_on_rerun(api_client, settings):
    settings.DEBUG = True
    _seed()
    output = _seed()

    assert Store.objects.filter(name="Demo Store").count() == 1
    assert APIKey.objects.filter(label="demo (make run)").count() == 1
    store_id = re.search(r"store:\s+Demo Store \((\w+)\)", output).group(1)
    secret = re.search(r"API key:\s+([0-9a-f]{40})", output).group(1)
    response = api_client.get(
        f"/api/v1/stores/{store_id}", HTTP_AUTHORIZATION=f"token {secret}"
    )
    assert response.status_code == 200
    assert response.json()["name"] == "Demo Store"
    password = re.search(r"password (\S+)", output).group(1)
    assert api_client.login(username="operator", password=password)


@pytest.mark.django_db
def test_seed_demo_refuses_production(settings):
    settings.DEBUG = False
    with pytest.raises(Exception, match="development"):
        _seed()
    assert not Store.objects.exists()
