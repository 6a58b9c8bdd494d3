"""Webhook deliveries and e-mails as retried work (flashpay.work): its standard column names.

WebhookDelivery.error_message is ``last_error`` in Python; its column keeps its name, so only the
model's state changes. EmailMessage gains ``last_attempt_at`` (NULL on existing rows: they were
attempted before it was kept).
"""
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('invoices', '0008_indexes_without_like_twins'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='webhookdelivery',
                    name='error_message',
                    field=models.CharField(blank=True, db_column='error_message', default='', max_length=500),
                ),
                migrations.RenameField(
                    model_name='webhookdelivery',
                    old_name='error_message',
                    new_name='last_error',
                ),
            ],
            database_operations=[],
        ),
        migrations.AddField(
            model_name='emailmessage',
            name='last_attempt_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
