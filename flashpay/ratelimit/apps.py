from django.apps import AppConfig


class RateLimitConfig(AppConfig):
    name = "flashpay.ratelimit"
    label = "ratelimit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from flashpay.schedules import register_schedule

        # Finished windows are dead weight: the limiter only reads the current one.
        register_schedule("ratelimit.purge", "flashpay.ratelimit.tasks.ratelimit_purge_task", minutes=60)
