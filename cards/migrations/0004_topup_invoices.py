"""Top-ups become Greenfield invoices of the program store: a top-up names its invoice, not a BOLT11.

Rows made before this (bare node invoices) keep their history under ``invoice_id = "legacy:<payment
hash>"``; their ledger postings still carry the payment hash in their metadata.
"""

from django.db import migrations, models
from django.db.models import Q


def _legacy_ids(apps, schema_editor):
    CardTopUp = apps.get_model("cards", "CardTopUp")
    for topup in CardTopUp.objects.filter(invoice_id__isnull=True).only("pk", "payment_hash", "credited_msat"):
        topup.invoice_id = f"legacy:{topup.payment_hash}"
        topup.credited_msat = topup.credited_msat or 0
        topup.save(update_fields=["invoice_id", "credited_msat"])


class Migration(migrations.Migration):

    dependencies = [
        ("cards", "0003_settlement_fee_ppm"),
    ]

    operations = [
        migrations.AddField(
            model_name="cardtopup",
            name="invoice_id",
            field=models.CharField(max_length=64, null=True),
        ),
        migrations.AddField(
            model_name="cardtopup",
            name="store_id",
            field=models.CharField(default="", max_length=64),
            preserve_default=False,
        ),
        migrations.RunPython(_legacy_ids, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="cardtopup",
            name="invoice_id",
            field=models.CharField(max_length=64, unique=True),
        ),
        migrations.AlterField(
            model_name="cardtopup",
            name="credited_msat",
            field=models.BigIntegerField(default=0),
        ),
        migrations.RemoveField(model_name="cardtopup", name="payment_hash"),
        migrations.RemoveField(model_name="cardtopup", name="bolt11"),
        migrations.AddConstraint(
            model_name="cardtopup",
            constraint=models.CheckConstraint(
                condition=Q(credited_msat__gte=0) & (Q(amount_msat__isnull=True) | Q(amount_msat__gt=0)),
                name="cards_topup_amounts_sane",
            ),
        ),
    ]
