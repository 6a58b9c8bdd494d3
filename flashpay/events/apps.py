"""The events outbox: domain events written with the change, delivered by workers."""
from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "flashpay.events"
    label = "events"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from flashpay.schedules import register_schedule

        # The safety net behind dispatch-on-commit: retries, lost tasks, dead workers.
        # One minute is the finest interval django-q2 schedules; its scheduler wakes every ~30 s.
        register_schedule("events.sweep", "flashpay.events.tasks.events_sweep", minutes=1)
