"""manage.py sync_schedules: write the apps' declared periodic tasks as django-q2 Schedule rows."""
from django.core.management.base import BaseCommand

from flashpay.schedules import schedules_sync


class Command(BaseCommand):
    help = "Create, update or remove the django-q2 schedules declared with register_schedule (idempotent)."

    def handle(self, *args, **options) -> None:
        result = schedules_sync()
        for label, names in (
            ("created", result.created),
            ("updated", result.updated),
            ("deleted", result.deleted),
        ):
            for name in names:
                self.stdout.write(f"{label} {name}")
        self.stdout.write(
            self.style.SUCCESS(
                f"schedules: {len(result.created)} created, {len(result.updated)} updated, "
                f"{len(result.deleted)} deleted, {len(result.unchanged)} unchanged"
            )
        )
