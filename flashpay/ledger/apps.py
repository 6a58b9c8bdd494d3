from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "flashpay.ledger"
    label = "ledger"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from flashpay.schedules import register_schedule

        # Cached balances are allowed only because this checks them against the entries.
        register_schedule("ledger.reconcile", "flashpay.ledger.tasks.ledger_reconcile_task", minutes=60)
