"""EventDelivery.status is called ``state`` in Python, as on every kind of retried work (flashpay.work).

Only the model's state changes: the column keeps its name (``db_column="status"``) and the due
index its definition, so existing rows and the index are used as they are.
"""
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('events', '0002_indexes_without_like_twins'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(
                    model_name='eventdelivery',
                    name='events_delivery_due',
                ),
                migrations.AlterField(
                    model_name='eventdelivery',
                    name='status',
                    field=models.CharField(choices=[('pending', 'Pending'), ('done', 'Done'), ('failed', 'Failed (gave up)')], db_column='status', default='pending', max_length=10),
                ),
                migrations.RenameField(
                    model_name='eventdelivery',
                    old_name='status',
                    new_name='state',
                ),
                migrations.AddIndex(
                    model_name='eventdelivery',
                    index=models.Index(condition=models.Q(('state', 'pending')), fields=['next_attempt_at'], name='events_delivery_due'),
                ),
            ],
            database_operations=[],
        ),
    ]
