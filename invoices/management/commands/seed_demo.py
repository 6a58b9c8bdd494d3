"""Seed a development demo: an operator superuser, a demo store and an API key, printed once."""
import secrets

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from flashpay.accounts.models import APIKey, Store, User
from flashpay.accounts.services import api_key_create, api_key_delete, store_create
from invoices.services.demo import demo_payment_setup
from rewards.services.demo import rewards_demo_seed

OPERATOR_USERNAME = "operator"
OPERATOR_EMAIL = "operator@flashpay.local"
DEMO_STORE_NAME = "Demo Store"
DEMO_KEY_LABEL = "demo (make run)"


class Command(BaseCommand):
    help = "Create or refresh the demo operator, store and API key (development only)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--wait-for-nodes", type=float, default=0, metavar="SECONDS",
            help="wait this long for the devnode to answer before giving up on the demo invoice",
        )

    def handle(self, *args, wait_for_nodes: float = 0, **options):
        if not settings.DEBUG:
            raise CommandError("seed_demo is for development (DEBUG=true) only")
        password = secrets.token_urlsafe(12)
        with transaction.atomic():
            operator = User.objects.filter(username=OPERATOR_USERNAME).first()
            if operator is None:
                operator = User.objects.create_superuser(
                    username=OPERATOR_USERNAME, email=OPERATOR_EMAIL, password=password
                )
            else:
                # A fresh password on each run: the demo login is always the one just printed.
                operator.set_password(password)
                operator.save(update_fields=["password"])
            store = Store.objects.filter(name=DEMO_STORE_NAME, members=operator).first()
            if store is None:
                store = store_create(user=operator, name=DEMO_STORE_NAME)
            for old_key in APIKey.objects.filter(user=operator, label=DEMO_KEY_LABEL):
                api_key_delete(api_key=old_key)
            _, secret = api_key_create(
                user=operator,
                label=DEMO_KEY_LABEL,
                permissions=[f"btcpay.store.canmodifystoresettings:{store.pk}"],
            )
        payment_lines = demo_payment_setup(store=store, wait_seconds=wait_for_nodes)
        payment_lines += rewards_demo_seed(operator=operator).lines
        base = settings.FLASHPAY_BASE_URL.rstrip("/")
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "FlashPay demo",
                    f"  admin:    {base}/admin/  user {OPERATOR_USERNAME}  password {password}",
                    f"  store:    {store.name} ({store.pk})",
                    f"  API key:  {secret}  (store settings on the demo store; shown once)",
                    f"  try:      curl -H 'Authorization: token {secret}' "
                    f"{base}/api/v1/stores/{store.pk}",
                    *payment_lines,
                    "",
                ]
            )
        )
