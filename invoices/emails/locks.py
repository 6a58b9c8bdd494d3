"""Row locks on outgoing e-mails; SKIP LOCKED so two workers never send the same message at once."""
from __future__ import annotations

from collections.abc import Collection

from django.utils import timezone

from invoices.emails.models import EmailMessage


def _due():
    return EmailMessage.objects.select_for_update(no_key=True, skip_locked=True, of=("self",)).filter(
        state=EmailMessage.State.PENDING, next_attempt_at__lte=timezone.now()
    )


def message_lock_due(*, message_id: int) -> EmailMessage | None:
    return _due().filter(pk=message_id).first()


def message_lock_next_due(*, exclude_ids: Collection[int] = ()) -> EmailMessage | None:
    qs = _due()
    if exclude_ids:
        qs = qs.exclude(pk__in=list(exclude_ids))
    return qs.order_by("next_attempt_at", "pk").first()


def message_lock_wait(*, message_id: int) -> EmailMessage:
    return EmailMessage.objects.select_for_update(no_key=True, of=("self",)).get(pk=message_id)
