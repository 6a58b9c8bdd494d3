"""Rewards: points for spending at Flash merchants (1 point = 1 sat), campaigns, redemption.

Every point is a ledger entry (flashpay.ledger; the accounts are named in
flashpay/ledger/accounts.py): funders (the program budget, each merchant's rewards funding
account) -> a member's pending points -> available points -> a Flash Card, a catalog item, or
back to the funder (clawback, reversal, expiry). The tables here say why each entry was made.

- ``models.py``: funders (``FundingAccount``), ``EarningRule`` per store, ``Tier``,
  ``ProgramSettings`` (bonuses), ``Member``, ``Campaign`` + ``CampaignEvent`` (audit),
  ``Award`` + ``AwardPart`` (who paid what, for which campaign), ``IssuanceRefusal``,
  ``FundingTopUp``, ``Adjustment``, ``BonusClaim``, ``CatalogItem`` + ``CatalogCode``, ``Redemption``.
- ``services/``: ``earning`` (rules, the stacking rule, awards from purchases), ``campaigns``
  (state machine, grants under budgets and caps), ``lifecycle`` (mature, clawback, reverse,
  expire, lots), ``redemption`` (card, catalog, codes), ``members`` (join and bonuses, tiers,
  adjustments), ``funding`` (funders, top-ups, refusals), ``demo`` (seed_demo's data).
- ``handlers.py``: outbox events that earn (``CardPaymentSucceeded``, ``InvoicePaymentSettled``,
  ``InvoiceSettled``) and claw back (``InvoiceInvalid``, ``InvoiceRefunded``,
  ``CardPaymentReversed``, ``InvoicePaymentUndone``); registered in ``apps.py`` with the
  schedules of ``tasks.py`` (mature, expire, end campaigns, tiers).
- ``selectors.py`` (balances, history, offers, catalog, the lots-vs-ledger check), ``sql.py`` (the
  earning path's statements), ``locks.py`` (member -> campaigns -> catalog -> ledger accounts).
- ``apis.py`` + ``app_urls.py``: the Flash app's rewards API; ``admin.py`` + ``forms.py``: the
  operator console.
"""
