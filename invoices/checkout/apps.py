from django.apps import AppConfig


class CheckoutConfig(AppConfig):
    """Installed so Django finds the checkout's own templates, static files and translations here."""

    name = "invoices.checkout"
    label = "invoices_checkout"
    verbose_name = "Hosted checkout"
