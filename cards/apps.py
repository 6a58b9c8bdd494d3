from django.apps import AppConfig


class CardsConfig(AppConfig):
    name = "cards"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from flashpay.accounts.authentication import app_token_lookup_register
        from flashpay.events.registry import register_handler
        from flashpay.schedules import register_schedule

        # The Flash app's bearer tokens are ours; its card and rewards endpoints look them up here.
        app_token_lookup_register("cards.selectors.app_token_authenticate")
        # The invoices app's Greenfield event names the store a card paid (history, settlement).
        register_handler("InvoicePaymentSettled", "cards.handlers.invoice_payment_settled")
        # Top-up invoices' payments: held on the card when seen, credited when settled, taken
        # back when undone (InvoicePaymentUndone: a reorg, a double spend).
        for event_type in ("InvoiceReceivedPayment", "InvoicePaymentSettled", "InvoicePaymentUndone"):
            register_handler(event_type, "cards.handlers.invoice_payment_topup")
        # Pending card payments whose outcome the node did not tell in time.
        register_schedule("cards.payments_reconcile", "cards.tasks.card_payments_reconcile_task", minutes=1)
        # Invoices paid by cards inside the ledger, still open on the node: cancel them there.
        register_schedule("cards.node_invoice_cancel", "cards.tasks.card_payments_node_invoices_cancel_task", minutes=1)
        register_schedule("cards.settlement", "cards.tasks.settlement_run_task", minutes=60)
        # Expired tap offers never paid with (the rate-limit counters are the kernel's, flashpay.ratelimit).
        register_schedule("cards.tap_offers_purge", "cards.tasks.tap_offers_purge_task", minutes=60)
