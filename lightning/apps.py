from django.apps import AppConfig


class LightningConfig(AppConfig):
    name = "lightning"
    default_auto_field = "django.db.models.BigAutoField"
