"""Invoices, payments, on-chain wallets, hosted checkout, the Greenfield merchant API and webhooks.

Domain events other apps follow (outbox, ``invoices/services/state.py``): the Greenfield webhook
types (``InvoiceReceivedPayment``, ``InvoicePaymentSettled``, ``InvoiceSettled``,
``InvoiceInvalid``...) and one internal event, ``InvoicePaymentUndone``: a payment that was
counted lost its standing (a settled payment a reorg unconfirmed, ``reason`` "unconfirmed"; any
payment taken out of the chain by a reorg, a double spend, a replacement or an eviction,
``reason`` "removed"). A payment that comes back and settles is announced by a new
``InvoicePaymentSettled``; a Settled invoice whose payments no longer cover it turns Invalid,
and Settled again if the removed payment confirms after all. Handlers read the payment's current
state (``invoices.selectors.invoice_payment_state``) rather than trust an event's payload: card
top-ups (``cards.handlers``) hold, credit and take back on these events.
"""
