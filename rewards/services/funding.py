"""Funders of the rewards program: the program budget, merchants' funding accounts, top-ups, refusals.

Every point issued is paid by a funder: a ledger account that operators top up (from the
external account of top-ups they received) and that never goes negative. When a funder is
short, issuance stops for the points it should pay and an ``IssuanceRefusal`` says why.
"""
from __future__ import annotations

import uuid

from django.db import IntegrityError, transaction
from django.utils import timezone

from flashpay.errors import FieldError
from flashpay.ledger.accounts import funding_account, rewards_topup_source_account
from flashpay.ledger.services import transaction_post
from rewards.models import MSAT_PER_POINT, FundingAccount, FundingTopUp, IssuanceRefusal

# Sanity bound for one top-up: 21 million BTC in sats.
MAX_TOPUP_POINTS = 21_000_000 * 100_000_000


def _funder_create(*, kind: str, store=None) -> FundingAccount:
    if kind == FundingAccount.Kind.PROGRAM:
        account, name = funding_account(), "Program budget"
    else:
        account = funding_account(store_id=store.pk)
        name = f"Funding of {store.name}"[:200]
    funder = FundingAccount(kind=kind, store=store, account=account, name=name)
    funder.full_clean(validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            funder.save(force_insert=True)
    except IntegrityError:
        # Created concurrently: the constraints let one row through.
        return FundingAccount.objects.select_related("account").get(kind=kind, store=store)
    return funder


def program_funder_get_or_create() -> FundingAccount:
    """The program budget's funder row (and its ledger account), made on first use."""
    funder = FundingAccount.objects.select_related("account").filter(kind=FundingAccount.Kind.PROGRAM).first()
    return funder or _funder_create(kind=FundingAccount.Kind.PROGRAM)


def merchant_funder_get_or_create(*, store) -> FundingAccount:
    """The store's rewards funding account (row and ledger account), made on first use."""
    funder = FundingAccount.objects.select_related("account").filter(store=store).first()
    return funder or _funder_create(kind=FundingAccount.Kind.MERCHANT, store=store)


def funder_top_up(*, funder: FundingAccount, points: int, note: str, actor) -> FundingTopUp:
    """Credit ``points`` sats to a funder from the operators' top-up account, with who and why.

    The operator has received the sats (from the merchant, or from Flash for the program
    budget) outside this system; the posting makes the liability visible in the ledger.
    """
    if isinstance(points, bool) or not isinstance(points, int) or not 1 <= points <= MAX_TOPUP_POINTS:
        raise FieldError("points", "must be a whole number of sats, at least 1")
    note = (note or "").strip()
    if not note:
        raise FieldError("note", "say where the sats came from")
    amount = points * MSAT_PER_POINT
    with transaction.atomic():
        txn = transaction_post(
            entries=[(rewards_topup_source_account(), -amount), (funder.account, amount)],
            idempotency_key=f"reward-topup:{uuid.uuid4().hex}",
            description=f"Top-up of {funder.name}"[:500],
            metadata={"type": "reward", "action": "topup", "funder": funder.pk, "actor": actor.pk},
        )
        topup = FundingTopUp(funder=funder, amount_msat=amount, note=note[:500], actor=actor, txn_id=txn.pk)
        topup.full_clean()
        topup.save()
    return topup


def issuance_refusal_record(
    *, key: str, funder: FundingAccount, wanted_msat: int, campaign=None, member=None, store_id: str | None = None
) -> IssuanceRefusal:
    """Record (once per award key and part) that a funder was too short to pay ``wanted_msat``.

    The reason names the funder and its balance at that moment, so an operator reading the
    admin knows whom to top up. A redelivered event refreshes the row rather than adding one.
    """
    from flashpay.ledger.selectors import account_balance

    available = account_balance(account=funder.account).available.value
    reason = (
        f"{funder.name} has {available // MSAT_PER_POINT} sats available, "
        f"{wanted_msat // MSAT_PER_POINT} needed: top it up to resume issuance"
    )
    refusal, _ = IssuanceRefusal.objects.update_or_create(
        key=key[:220],
        defaults={
            "funder": funder,
            "campaign": campaign,
            "member": member,
            "store_id": store_id or None,
            "wanted_msat": wanted_msat,
            "reason": reason[:500],
            "created_at": timezone.now(),
        },
    )
    return refusal
