"""Flash Cards: Bolt Card issuance, keys, programming and wipe, taps, tap-to-pay, top-ups,
merchant settlement and the Flash app's card API.

Where each part lives:

- ``models.py``: IssuerKey, Card (+ CardEvent audit rows), ProgrammingLink, TapLog,
  WithdrawRequest (a tap's k1), CardPayment, CardTopUp, MerchantSettlementSchedule,
  SettlementBatch, AppToken. ``locks.py``: their row locks. ``selectors.py``: reads (card keys,
  balances, spending room, history, settlement CSV).
- ``crypto.py``: pure Bolt Card cryptography (SUN decrypt/verify, deterministic keys;
  ``sun_make`` simulates taps in tests and benchmarks). ``keys.py``: issuer keys sealed at rest.
- ``services/`` (writes; the package ``__init__`` holds none), one module per job:
  ``issuer_keys`` (create, activate, the first key of a fresh install);
  ``cards`` (issue one or a batch, edit, claim by activation code, holder limits, and the status
  machine inactive -> active <-> frozen -> canceled);
  ``programming`` (one-time program and wipe links, ``card_program``, ``card_wipe``);
  ``taps`` (the whole tap in one place: ``card_sun_authenticate``, ``card_counter_advance`` the
  atomic replay guard, ``tap_log_record``, ``card_tap`` the LNURL-withdraw offer, purge of
  unused offers); ``payments`` (``card_withdraw`` the LNURL-withdraw callback, internal payments
  settled inside the ledger and their invoice canceled on the node after commit, external ones
  held then paid outside any lock, ``card_payments_reconcile``); ``topups`` (``card_topup_create``,
  ``card_topup_payment_credit``); ``settlement`` (``settlement_schedule_set``, ``settlement_run``:
  batches paid over LNURL-pay, or on-chain from CARD_SETTLEMENT_HOT_WALLET through
  ``invoices.onchain``'s services; naming the merchant of payments); ``app_tokens`` (Flash app
  sign-in).
- ``apis/``: the programming and wipe endpoints (``__init__``), the tap and its callback
  (``tap.py``), the Flash app's card API (``app.py``; the app's bearer tokens are ours, checked by
  flashpay.accounts.authentication through ``selectors.app_token_authenticate``);
  ``urls.py`` and ``app_urls.py`` route them. ``admin.py`` (+ ``forms.py``): the operator console.
  ``handlers.py``: outbox events from invoices (a paid invoice names a card payment's store; a
  top-up invoice's payment is held on its card when seen, credited when settled, taken back when
  ``InvoicePaymentUndone``). ``tasks.py``: reconcile, node invoice cancels,
  settlement, purges.

Key scheme: Bolt Card DETERMINISTIC keys (boltcard/boltcard docs/DETERMINISTIC.md). No
per-card secret is stored. A card row holds a reference to its IssuerKey (encrypted at rest
under settings.CARD_KEY_ENCRYPTION_KEY, see cards/keys.py), the chip UID once the programmer
app has sent it, the Bolt Card ID derived from it (what taps are looked up by) and a key
version that is bumped on every re-programming; K0..K4 are derived when needed
(cards/crypto.py). Random per-card keys were rejected: they would put five secrets per card in
the database and make a tap's ``p`` decryptable only by trying every card's K1.

Money (the named accounts of flashpay/ledger/accounts.py): a card's balance is the ledger account
(card, <card public id>); the node's side is (node, "lightning"), shared with the invoices app;
settlement fees go to (fees, "card-settlement"). Top-ups are invoices of the program store
(FLASH_PROGRAM_STORE_ID): Lightning money reaches the card as node -> (merchant, program store)
-> card, other money as (external, "topup-wallet:<store>") -> card (services/topups.py); an
on-chain top-up is a hold (incoming, not spendable) until settled per the program store's speed
policy, and is taken back if a reorg or a double spend undoes its payment: what the card already
spent is then owed on (receivable, "card:<card public id>"), never a negative card balance. A card
payment of a FlashPay merchant's invoice names the store at once (invoices.selectors).
Ledger transactions on a card carry ``metadata["type"]``: ``card_payment``, ``card_topup``,
``card_topup_reversal``, and
for other apps ``refund`` / ``reward`` (with an optional ``merchant_name``): the history shows
them by that type.

Other apps use cards through ``cards.services.*`` and ``cards.selectors`` only.
"""
