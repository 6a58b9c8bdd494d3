"""The @idempotent decorator on views of other apps: anonymous callers, 5xx responses."""
import pytest
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from flashpay.idempotency.apis import idempotent
from flashpay.idempotency.models import IdempotencyRecord
from tests.factories import create_api_key, token_header

calls: list[int] = []


class CountingApi(APIView):
    permission_classes = [AllowAny]

    @idempotent
    def post(self, request):
        calls.append(1)
        status = int(request.data.get("status", 200))
        return Response({"call": len(calls)}, status=status)


urlpatterns = [path("count", CountingApi.as_view())]


@pytest.fixture(autouse=True)
def reset_calls():
    calls.clear()


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_anonymous_callers_do_not_share_a_key_space(api_client):
    first = api_client.post("/count", {}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    second = api_client.post("/count", {}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert first.json() == {"call": 1}
    assert second.json() == {"call": 2}
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_server_errors_are_not_stored_so_a_retry_runs_again(api_client):
    _, secret = create_api_key()
    failed = api_client.post("/count", {"status": 503}, format="json", HTTP_IDEMPOTENCY_KEY="k", **token_header(secret))
    assert failed.status_code == 503
    assert not IdempotencyRecord.objects.exists()
    retried = api_client.post("/count", {"status": 503}, format="json", HTTP_IDEMPOTENCY_KEY="k", **token_header(secret))
    assert retried.json() == {"call": 2}


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_client_errors_returned_by_the_handler_are_replayed(api_client):
    _, secret = create_api_key()
    first = api_client.post("/count", {"status": 409}, format="json", HTTP_IDEMPOTENCY_KEY="k", **token_header(secret))
    again = api_client.post("/count", {"status": 409}, format="json", HTTP_IDEMPOTENCY_KEY="k", **token_header(secret))
    assert first.status_code == again.status_code == 409
    assert again.json() == {"call": 1}
    assert calls == [1]
