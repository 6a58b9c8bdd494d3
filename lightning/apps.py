"""Lightning backends behind one interface, BOLT11, our node's invoices and their settlements (LNURL lives with its users: invoices, cards)."""
from django.apps import AppConfig


class LightningConfig(AppConfig):
    name = "lightning"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from lightning.tasks import lightning_schedules_register

        lightning_schedules_register()
