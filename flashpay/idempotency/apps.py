from django.apps import AppConfig


class IdempotencyConfig(AppConfig):
    name = "flashpay.idempotency"
    label = "idempotency"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from flashpay.schedules import register_schedule

        register_schedule(
            "idempotency.purge", "flashpay.idempotency.tasks.purge_expired_idempotency_keys", minutes=60
        )
