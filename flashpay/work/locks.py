"""Row locks on retried work; SKIP LOCKED so concurrent workers never claim the same row."""
from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from django.utils import timezone

from flashpay.work.models import RetriedWork
from flashpay.work.policies import WorkPolicy


def _lockable(policy: WorkPolicy, *, skip_locked: bool):
    # no_key: the primary key never changes, so rows that reference this one are not blocked.
    return policy.model.objects.select_for_update(no_key=True, skip_locked=skip_locked, of=("self",)).select_related(
        *policy.select_related
    )


def work_lock_next_due(
    policy: WorkPolicy, *, pk: Any = None, filters: Mapping[str, Any] | None = None,
    exclude_pks: Collection[Any] = (),
) -> Any | None:
    """Lock the first due pending row (this one, if ``pk``) that no other worker holds, else None."""
    qs = _lockable(policy, skip_locked=True).filter(
        state=RetriedWork.State.PENDING, next_attempt_at__lte=timezone.now(), **(filters or {})
    )
    if pk is not None:
        qs = qs.filter(pk=pk)
    if exclude_pks:
        qs = qs.exclude(pk__in=list(exclude_pks))
    return qs.order_by(*policy.order_by).first()


def work_lock_wait(policy: WorkPolicy, *, pk: Any) -> Any | None:
    """Lock one row, waiting for whoever holds it (recording a result, an operator's requeue); None if gone."""
    return _lockable(policy, skip_locked=False).filter(pk=pk).first()
