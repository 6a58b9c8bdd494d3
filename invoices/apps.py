from django.apps import AppConfig


class InvoicesConfig(AppConfig):
    name = "invoices"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from invoices.rates.tasks import rates_schedules_register

        rates_schedules_register()
        from invoices.handlers import invoices_register; invoices_register()  # noqa: E702, I001
        from invoices.webhooks.handlers import webhooks_register; webhooks_register()  # noqa: E702, I001
        from invoices.emails.handlers import emails_register; emails_register()  # noqa: E702, I001
