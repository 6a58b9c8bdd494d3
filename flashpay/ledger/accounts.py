"""The named ledger accounts every app uses: one place spells their kind, reference and name.

An account is (kind, reference); two spellings of one would split a balance in two, so apps
never write these out themselves: invoices credits ``merchant_account`` from ``node_account``,
cards pays from ``card_account`` through ``node_account``, settlement keeps its fee in
``card_settlement_fees_account`` and pays from ``hot_wallet_account``, rewards funds points
from ``funding_account`` into ``member_points_account`` (pending, then available); what a card
holder owes after a top-up was taken back is in ``card_receivable_account``. Each helper returns
the account, created on first use
(``account_get_or_create``); the ``*_get`` readers raise NotFound instead of creating one.
"""
from __future__ import annotations

from flashpay.ledger.models import Account, AccountKind
from flashpay.ledger.selectors import account_get
from flashpay.ledger.services import account_get_or_create

# The server's Lightning node: every Lightning sat that arrives at or leaves our node.
NODE_ACCOUNT_REFERENCE = "lightning"
# What the card program keeps of merchants' card sales when it settles with them.
CARD_SETTLEMENT_FEES_REFERENCE = "card-settlement"
# Flash's own budget for rewards (campaigns, tap rewards), topped up by operators.
PROGRAM_BUDGET_REFERENCE = "program"


def node_account() -> Account:
    """The server's Lightning node (node, "lightning"), shared by invoices and cards."""
    return account_get_or_create(kind=AccountKind.NODE, reference=NODE_ACCOUNT_REFERENCE, name="Lightning node")


def hot_wallet_account(*, wallet: str) -> Account:
    """The bitcoin a bitcoind hot wallet holds and pays out from (node, "bitcoind-wallet:<name>")."""
    return account_get_or_create(
        kind=AccountKind.NODE, reference=f"bitcoind-wallet:{wallet}", name=f"bitcoind hot wallet {wallet}"
    )


def merchant_account(*, store_id: str) -> Account:
    """What FlashPay owes a store (merchant, <store id>): its Lightning sales on our node and its
    card sales, less what settlement paid out. Never negative."""
    return account_get_or_create(kind=AccountKind.MERCHANT, reference=store_id, name=f"Merchant {store_id}")


def merchant_account_get(*, store_id: str) -> Account:
    """The store's merchant account; NotFound before its first sale."""
    return account_get(kind=AccountKind.MERCHANT, reference=store_id)


def card_account(*, card_id: str, name: str = "") -> Account:
    """A Flash Card's balance (card, <card public id>); ``name`` labels a new account. Never negative."""
    return account_get_or_create(kind=AccountKind.CARD, reference=card_id, name=name[:200])


def card_account_get(*, card_id: str) -> Account:
    """The card's account; NotFound before its first top-up or payment."""
    return account_get(kind=AccountKind.CARD, reference=card_id)


def card_settlement_fees_account() -> Account:
    """The program's fee on merchants' card sales, kept when a settlement batch pays out."""
    return account_get_or_create(
        kind=AccountKind.FEES, reference=CARD_SETTLEMENT_FEES_REFERENCE, name="Card settlement fees"
    )


def topup_wallet_account(*, store_id: str) -> Account:
    """Card top-ups the program store received outside our node (on-chain, or a Lightning node of
    its own): (external, "topup-wallet:<store id>"); its negative balance is that bitcoin."""
    return account_get_or_create(
        kind=AccountKind.EXTERNAL,
        reference=f"topup-wallet:{store_id}",
        name=f"Top-ups received outside the node ({store_id})",
    )


def card_receivable_account(*, card_id: str) -> Account:
    """What a card's holder owes the program (receivable, "card:<card public id>").

    A card account never goes negative. When money a card already spent is taken back (a
    top-up whose on-chain payment a reorg removed), the part the card no longer holds is posted
    here instead: the balance is minus what the holder owes, shown in the admin and by
    ``ledger_reconcile``; the card's next top-ups pay it back first (cards/services/topups.py).
    """
    return account_get_or_create(
        kind=AccountKind.RECEIVABLE, reference=f"card:{card_id}", name=f"Owed by the holder of card {card_id}"
    )


def card_receivable_account_get(*, card_id: str) -> Account:
    """The card's receivable; NotFound while its holder never owed anything."""
    return account_get(kind=AccountKind.RECEIVABLE, reference=f"card:{card_id}")


def funding_account(*, store_id: str | None = None) -> Account:
    """Where rewards are paid from: a store's rewards funding account (program_budget,
    "store:<store id>"), or with no store Flash's own program budget (program_budget, "program").
    Operators top them up; they never go negative."""
    if store_id is None:
        return account_get_or_create(
            kind=AccountKind.PROGRAM_BUDGET,
            reference=PROGRAM_BUDGET_REFERENCE,
            name="Flash program budget",
            allow_negative=False,
        )
    return account_get_or_create(
        kind=AccountKind.PROGRAM_BUDGET,
        reference=f"store:{store_id}",
        name=f"Rewards funding of {store_id}",
        allow_negative=False,
    )


# The two balances of a rewards member: points waiting out their hold period, points to spend.
MEMBER_POINTS_STATES = ("pending", "available")


def member_points_account(*, member_id: str, state: str) -> Account:
    """A rewards member's points (member, "<member id>:pending" / ":available"). Never negative."""
    if state not in MEMBER_POINTS_STATES:
        raise ValueError(f"member points are pending or available, not {state!r}")
    return account_get_or_create(
        kind=AccountKind.MEMBER, reference=f"{member_id}:{state}", name=f"{state.capitalize()} points of {member_id}"
    )


def rewards_topup_source_account() -> Account:
    """The outside world that operators' top-ups of rewards funding come from (external,
    "rewards-topups"): sats a merchant or Flash paid in, received outside this ledger."""
    return account_get_or_create(
        kind=AccountKind.EXTERNAL, reference="rewards-topups", name="Rewards top-ups received by operators"
    )


def rewards_catalog_account() -> Account:
    """Points members spent on catalog items (program_budget, "rewards-catalog"): what the program
    owes the vouchers' and services' providers. Never negative."""
    return account_get_or_create(
        kind=AccountKind.PROGRAM_BUDGET,
        reference="rewards-catalog",
        name="Points spent on catalog items",
        allow_negative=False,
    )
