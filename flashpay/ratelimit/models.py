"""The counter rows of the shared rate limiter."""

from django.db import models


class RateLimitCounter(models.Model):
    """Hits on one key (e.g. ``tap-ip:192.0.2.1``) in one fixed window."""

    key = models.CharField(max_length=120)
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key", "window_start"], name="ratelimit_key_window")]
        indexes = [models.Index(fields=["window_start"], name="ratelimit_window_start")]

    def __str__(self) -> str:
        return f"{self.key}@{self.window_start}: {self.count}"
