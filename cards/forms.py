"""Admin forms for issuing cards and confirming status changes (input parsing only)."""

from django import forms

from cards.services.cards import BATCH_MAX


class CardIssueForm(forms.Form):
    name_prefix = forms.CharField(
        max_length=90, help_text="Card name; with a batch, cards are numbered after it."
    )
    count = forms.IntegerField(min_value=1, max_value=BATCH_MAX, initial=1)
    per_transaction_limit_sat = forms.IntegerField(
        min_value=0, initial=100_000, help_text="Per-payment limit in sats."
    )
    daily_limit_sat = forms.IntegerField(
        min_value=0, initial=500_000, help_text="Limit per day in sats, current payment included."
    )


class CardReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=500, required=False, widget=forms.TextInput(attrs={"size": 60})
    )
