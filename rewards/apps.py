from django.apps import AppConfig

# The refunds feature's event (payload "invoiceId") and a reversed card payment's (payload
# "payment_hash"): neither app emits them yet; rewards claws back on them once they do.
INVOICE_REFUNDED_EVENT = "InvoiceRefunded"
CARD_PAYMENT_REVERSED_EVENT = "CardPaymentReversed"


class RewardsConfig(AppConfig):
    name = "rewards"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from flashpay.events.registry import register_handler
        from flashpay.schedules import register_schedule

        register_handler("CardPaymentSucceeded", "rewards.handlers.card_payment_succeeded")
        register_handler("InvoicePaymentSettled", "rewards.handlers.invoice_payment_settled")
        register_handler("InvoiceSettled", "rewards.handlers.invoice_settled")
        register_handler("InvoiceInvalid", "rewards.handlers.invoice_invalid")
        register_handler(INVOICE_REFUNDED_EVENT, "rewards.handlers.invoice_refunded")
        register_handler(CARD_PAYMENT_REVERSED_EVENT, "rewards.handlers.card_payment_reversed")
        register_handler("InvoicePaymentUndone", "rewards.handlers.invoice_payment_undone")
        register_schedule("rewards.mature", "rewards.tasks.awards_mature_task", minutes=5)
        register_schedule("rewards.expire", "rewards.tasks.awards_expire_task", minutes=60)
        register_schedule("rewards.campaigns_end", "rewards.tasks.campaigns_end_due_task", minutes=5)
        register_schedule("rewards.tiers", "rewards.tasks.member_tiers_recompute_task", minutes=24 * 60)
