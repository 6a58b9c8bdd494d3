"""Flash Cards: Bolt Card issuance, keys, programming and wipe links, SUN verification, tap-to-pay,
balances, the Flash app API and merchant settlement.

Key scheme: Bolt Card DETERMINISTIC keys (boltcard/boltcard docs/DETERMINISTIC.md). No
per-card secret is stored. A card row holds a reference to its IssuerKey (encrypted at rest
under settings.CARD_KEY_ENCRYPTION_KEY, see cards/keys.py), the chip UID once the programmer
app has sent it, the Bolt Card ID derived from it (what taps are looked up by) and a key
version that is bumped on every re-programming; K0..K4 are derived when needed
(cards/crypto.py). Random per-card keys were rejected: they would put five secrets per card in
the database and make a tap's ``p`` decryptable only by trying every card's K1.

Money: a card's balance is the ledger account (card, <card public id>); the node's side is
(node, "lightning"), shared with the invoices app; settlement fees go to (fees, "card-settlement").
Top-ups are invoices of the program store (FLASH_PROGRAM_STORE_ID): Lightning money reaches the
card as node -> (merchant, program store) -> card, other money as (external, "topup-wallet:<store>")
-> card (cards/services/topups.py).
Ledger transactions on a card carry ``metadata["type"]``: ``card_payment``, ``card_topup``, and
for other apps ``refund`` / ``reward`` (with an optional ``merchant_name``): the history shows
them by that type.

Entry points for other code: ``cards.selectors.card_sun_authenticate`` (which card tapped, and
its counter), ``cards.services.card_counter_advance`` (atomic replay guard),
``cards.services.tap_log_record``, the status services, ``cards.crypto.sun_make`` to simulate
taps in tests and benchmarks; ``cards.services.payments`` (``card_tap``, ``card_withdraw``,
``card_payments_reconcile``, ``card_payment_node_invoice_cancel``: an invoice paid inside the
ledger is canceled on the node after commit, swept every minute), ``cards.services.topups``
(``card_topup_create``, ``card_topup_payment_credit``), ``cards.services.settlement`` (``settlement_schedule_set``,
``settlement_run``; on-chain payouts from CARD_SETTLEMENT_HOT_WALLET when set) and
``cards.selectors`` (``card_balance``, ``card_spending_room``, ``card_history``).
"""
