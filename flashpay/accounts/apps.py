from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "flashpay.accounts"
    label = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the OpenAPI security schemes of our authentication classes.
        from flashpay.accounts import schema  # noqa: F401
