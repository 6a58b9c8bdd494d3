"""Merchant accounts opened by card settlement before flashpay.ledger.accounts had no name; give
them the one every other path gives ("Merchant <store id>"). Kind and reference, hence every
balance, are untouched: all paths already used (merchant, <store id>)."""
from django.db import migrations
from django.db.models import Value
from django.db.models.functions import Concat


def name_merchant_accounts(apps, schema_editor):
    Account = apps.get_model("ledger", "Account")
    Account.objects.filter(kind="merchant", name="").update(name=Concat(Value("Merchant "), "reference"))


class Migration(migrations.Migration):
    dependencies = [("ledger", "0002_triggers")]

    operations = [migrations.RunPython(name_merchant_accounts, migrations.RunPython.noop)]
