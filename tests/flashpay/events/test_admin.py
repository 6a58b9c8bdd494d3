"""Operators see events and deliveries read-only in the admin and can redeliver failed ones."""
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse
from django_q.models import OrmQ

from flashpay.events.models import EventDelivery
from flashpay.events.services import event_emit

H = "tests.flashpay.events.handlers"


@pytest.fixture
def failed_delivery(handler_registry) -> EventDelivery:
    handler_registry.register_handler("InvoiceSettled", f"{H}.record_a")
    event = event_emit(
        type="InvoiceSettled", aggregate_type="invoice", aggregate_id="inv9", payload={}
    )
    EventDelivery.objects.filter(event=event).update(
        state=EventDelivery.State.FAILED, attempts=8, last_error="RuntimeError: a is down"
    )
    return EventDelivery.objects.get(event=event)


@pytest.mark.django_db
def test_event_pages_show_the_event_and_its_deliveries(admin_client, failed_delivery):
    changelist = admin_client.get(
        reverse("admin:events_event_changelist"), {"deliveries__state": "failed"}
    )
    detail = admin_client.get(
        reverse("admin:events_event_change", args=[failed_delivery.event_id])
    )

    assert changelist.status_code == 200
    assert b"InvoiceSettled" in changelist.content
    assert detail.status_code == 200
    assert b"RuntimeError: a is down" in detail.content
    assert f"{H}.record_a".encode() in detail.content


@pytest.mark.django_db
def test_events_and_deliveries_cannot_be_added_or_edited(admin_client, failed_delivery):
    assert admin_client.get(reverse("admin:events_event_add")).status_code == 403
    response = admin_client.post(
        reverse("admin:events_eventdelivery_change", args=[failed_delivery.pk]),
        {"state": "done", "attempts": 0},
    )
    failed_delivery.refresh_from_db()
    assert response.status_code == 403
    assert failed_delivery.state == EventDelivery.State.FAILED


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "action", "selected"),
    [
        ("admin:events_eventdelivery_changelist", "redeliver", "delivery"),
        ("admin:events_event_changelist", "redeliver_failed", "event"),
    ],
)
def test_redeliver_action_queues_the_delivery_again(
    admin_client, failed_delivery, django_capture_on_commit_callbacks, url, action, selected
):
    pk = failed_delivery.pk if selected == "delivery" else failed_delivery.event_id

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse(url), {"action": action, "_selected_action": [pk]}, follow=True
        )

    assert response.status_code == 200
    failed_delivery.refresh_from_db()
    assert (failed_delivery.state, failed_delivery.attempts) == (
        EventDelivery.State.PENDING, 0,
    )
    assert OrmQ.objects.count() == 1


@pytest.mark.django_db
def test_staff_who_may_only_view_cannot_redeliver(client, failed_delivery):
    viewer = get_user_model().objects.create_user("viewer", password="pw-123456789", is_staff=True)
    viewer.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_event", "view_eventdelivery"])
    )
    client.force_login(viewer)

    listing = client.get(reverse("admin:events_eventdelivery_changelist"))
    client.post(
        reverse("admin:events_eventdelivery_changelist"),
        {"action": "redeliver", "_selected_action": [failed_delivery.pk]},
    )

    assert listing.status_code == 200
    failed_delivery.refresh_from_db()
    assert failed_delivery.state == EventDelivery.State.FAILED
    assert OrmQ.objects.count() == 0
