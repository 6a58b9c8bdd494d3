"""Hand-written statements of the earning path, the rewards app's hot path (every card payment and
settled invoice runs it from the outbox): SQL compiled once (flashpay.sql) instead of per event.

``tests/rewards/test_sql.py`` holds each against the ORM.
"""
from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS, connections

from flashpay.ledger.models import Account
from flashpay.sql import ModelInsert, ModelSelect, Names
from rewards.models import Award, AwardPart, Campaign, EarningRule, Member

_STORES = Names(Campaign.stores.through)

# A store's earning rule with its store and funder (param: store id).
RULE_BY_STORE = ModelSelect(EarningRule, related=["store", "funder"], where="{t.store} = %s")

# The award made for a source event, if any (param: idempotency key).
AWARD_BY_KEY = ModelSelect(Award, where="{t.idempotency_key} = %s")

_MEMBER_WHERE = "{t.user} = %s"
_MEMBER_RELATED = ["tier", "pending_account", "available_account"]
# A user's member row with its tier and accounts (param: user id); on PostgreSQL locked, as
# rewards.locks.member_lock_for_user does (SQLite's transactions already hold its one write lock).
MEMBER_BY_USER = ModelSelect(Member, related=_MEMBER_RELATED, where=_MEMBER_WHERE)
MEMBER_BY_USER_FOR_UPDATE = ModelSelect(Member, related=_MEMBER_RELATED, where=_MEMBER_WHERE + " FOR NO KEY UPDATE OF t0")



def _candidates_where(trigger_column: str) -> str:
    """Active, dated, at least the minimum, and for every merchant or this one (params: "active",
    time, time, amount msat, store id), by pk; only names from the models and placeholders."""
    links = f"SELECT 1 FROM {_STORES} cs WHERE cs.{_STORES.campaign} = {{t.pk}}"  # noqa: S608
    return (
        "{t.state} = %s AND {t.starts_at} <= %s AND ({t.ends_at} IS NULL OR {t.ends_at} > %s)"
        f" AND {{t.min_purchase_msat}} <= %s AND {{t.{trigger_column}}}"
        f" AND (NOT EXISTS ({links}) OR EXISTS ({links} AND cs.{_STORES.store} = %s)) ORDER BY {{t.pk}}"
    )


# The campaigns a purchase may get, with their funders; one statement per trigger.
CAMPAIGNS_FOR_CARD_PAYMENT = ModelSelect(Campaign, related=["funder"], where=_candidates_where("on_card_payment"))
CAMPAIGNS_FOR_INVOICE = ModelSelect(Campaign, related=["funder"], where=_candidates_where("on_invoice"))

INSERT_AWARD = ModelInsert(Award)
INSERT_AWARD_PARTS = ModelInsert(AwardPart)


def member_by_user_for_update(user_id: int) -> Member | None:
    connection = connections[DEFAULT_DB_ALIAS]
    select = MEMBER_BY_USER_FOR_UPDATE if connection.vendor == "postgresql" else MEMBER_BY_USER
    return select.first([user_id])


# A posting takes only the pk of each leg's account (it reads balances itself, under its own lock;
# kind and reference only name a short account in the error): one look-up per process serves
# every later posting from the same funder.
_ACCOUNTS: dict[int, Account] = {}


def ledger_account(account_id: int) -> Account:
    account = _ACCOUNTS.get(account_id)
    if account is None:
        account = _ACCOUNTS[account_id] = Account.objects.get(pk=account_id)
    return account
