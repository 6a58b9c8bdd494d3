"""The devnode as a Django app, so that it owns its `manage.py devnode` command."""
from django.apps import AppConfig


class DevnodeConfig(AppConfig):
    name = "devnode"
    label = "devnode"
