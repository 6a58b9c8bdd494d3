"""Under real concurrency on PostgreSQL: a campaign's budget is never overspent, a balance is never
redeemed twice, and an event delivered twice at once awards once."""
import pytest
from django.db import connection

from flashpay.events.models import EventDelivery
from flashpay.events.services import event_emit
from flashpay.events.tasks import dispatch_event
from flashpay.ledger.services import ledger_reconcile
from rewards.models import Award, AwardPart
from rewards.selectors import member_lots_mismatch_list
from tests.concurrency import run_together
from tests.factories import UserFactory

from .factories import (
    SAT,
    balance_points,
    funded_rule,
    make_campaign,
    member_points,
    program_funder,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locks"),
]

# PostgreSQL here allows 100 connections in all (other test runs share it): 25 threads, each
# with its own connection, release the 100 events at once, 4 each.
THREADS = 25


def at_barrier(jobs: list, threads: int = THREADS) -> list:
    """Run ``jobs`` (callables) from ``threads`` threads released together (job i in thread
    i mod threads); their results, in the order of the jobs."""

    def thread_jobs(index: int) -> list:
        return [(job_index, jobs[job_index]()) for job_index in range(index, len(jobs), threads)]

    outcomes = run_together(*[lambda index=index: thread_jobs(index) for index in range(threads)], timeout=300)
    results = [None] * len(jobs)
    for done in outcomes.values():
        for job_index, value in done:
            results[job_index] = value
    return results


def card_payment_event(*, holder, store_id: str, n: int, sats: int = 10_000):
    return event_emit(
        type="CardPaymentSucceeded",
        aggregate_type="card",
        aggregate_id=f"card-{n}",
        payload={
            "paymentId": f"p{n}", "cardId": f"card-{n}", "holderId": holder.pk, "kind": "internal",
            "amount_msat": sats * SAT, "fee_msat": 0, "payment_hash": f"{n:064x}",
            "merchantStoreId": store_id, "reason": "",
        },
        idempotency_key=f"CardPaymentSucceeded:{n:064x}",
    )


def test_a_hundred_concurrent_purchases_against_a_budget_for_ten_issue_exactly_ten():
    # given a 50-point bonus campaign with a budget of 500 points (ten bonuses), and 100 members
    rule = funded_rule(points=10_000_000)
    program = program_funder(points=10_000_000)
    campaign = make_campaign(funder=program, bonus_points=50, budget_points=500)
    events = [card_payment_event(holder=UserFactory(), store_id=rule.store_id, n=n) for n in range(100)]
    # when the 100 events are delivered at once
    at_barrier([lambda event=event: dispatch_event(event.pk) for event in events])
    # then every purchase earned its base, and exactly ten got the bonus
    assert EventDelivery.objects.filter(handler="rewards.handlers.card_payment_succeeded", state="done").count() == 100
    assert Award.objects.count() == 100
    bonus_parts = AwardPart.objects.filter(campaign=campaign)
    assert bonus_parts.count() == 10
    assert {part.amount_msat for part in bonus_parts} == {50 * SAT}
    campaign.refresh_from_db()
    assert campaign.spent_msat == 500 * SAT
    assert balance_points(program.account) == 10_000_000 - 500
    assert ledger_reconcile().ok


def test_both_events_of_one_card_purchase_delivered_at_once_award_once():
    # given a card payment at a merchant, told twice: by cards (CardPaymentSucceeded) and by the
    # invoices app (InvoicePaymentSettled of the invoice it paid)
    from cards.models import CardPayment
    from tests.cards.factories import make_card

    rule = funded_rule()
    holder = UserFactory()
    card = make_card(holder=holder).card
    payment_hash = f"{1:064x}"
    CardPayment.objects.create(
        card=card, payment_hash=payment_hash, bolt11="lnbcrt1", kind="internal", status="succeeded", amount_msat=10_000 * SAT
    )
    jobs = []
    for n in range(3):
        event = card_payment_event(holder=holder, store_id=rule.store_id, n=1)
        jobs.append(lambda event=event: dispatch_event(event.pk))
        other = event_emit(
            type="InvoicePaymentSettled", aggregate_type="invoice", aggregate_id="inv-1",
            payload={"paymentMethodId": "BTC-LN", "payment": {"id": payment_hash}, "storeId": rule.store_id, "invoiceId": "inv-1"},
            idempotency_key=f"InvoicePaymentSettled:inv-1:{n}",
        )
        jobs.append(lambda other=other: dispatch_event(other.pk))
    # when all of them are delivered at once
    at_barrier(jobs, threads=len(jobs))
    # then the purchase earned once, and the award knows its invoice
    award = Award.objects.get()
    assert award.points == 221 and award.invoice_id == "inv-1"
    assert member_points(award.member) == (221, 0)
    assert not EventDelivery.objects.exclude(state="done").filter(handler__startswith="rewards.").exists()
    assert ledger_reconcile().ok and member_lots_mismatch_list() == []


def test_concurrent_redemptions_of_one_balance_never_spend_twice():
    # given a member with 1,000 available points and an active card, and 20 app requests of
    # 100 points each, each with its own Idempotency-Key, sent at once
    from django.urls import reverse
    from rest_framework.test import APIClient

    from cards import selectors as card_selectors
    from rewards.models import Redemption
    from rewards.services.members import member_points_adjust
    from tests.cards.factories import make_programmed_card
    from tests.factories import DEFAULT_PASSWORD

    from .factories import make_member, operator

    program_funder(points=10_000)
    user = UserFactory()
    card = make_programmed_card(holder=user)
    member = make_member(user)
    member_points_adjust(member=member, points=1_000, reason="test", actor=operator())
    token = APIClient().post(reverse("cards-app:token"), {"username": user.username, "password": DEFAULT_PASSWORD}, format="json").json()["token"]

    def redeem(n: int):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        response = client.post(
            reverse("rewards-app:redeem-card"), {"card_id": card.public_id, "points": 100}, format="json",
            HTTP_IDEMPOTENCY_KEY=f"redeem-{n}",
        )
        return response.status_code, response.json()

    results = at_barrier([lambda n=n: redeem(n) for n in range(20)], threads=20)
    # then exactly ten went through, the others were refused, and no point was spent twice
    assert sorted(status for status, _ in results) == [201] * 10 + [400] * 10
    assert {body["code"] for status, body in results if status == 400} == {"insufficient-points"}
    assert Redemption.objects.count() == 10
    assert member_points(member) == (0, 0)
    assert card_selectors.card_balance(card=card).posted.value == 1_000 * SAT
    assert ledger_reconcile().ok and member_lots_mismatch_list() == []
