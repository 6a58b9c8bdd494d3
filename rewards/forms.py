"""Admin forms of the rewards operator console (input parsing only; the services decide)."""

from django import forms
from django.core.exceptions import ValidationError

from rewards.models import Campaign, CatalogItem
from rewards.services.campaigns import campaign_validate
from rewards.services.funding import MAX_TOPUP_POINTS
from rewards.services.members import MAX_ADJUSTMENT_POINTS


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=500, required=False, widget=forms.TextInput(attrs={"size": 60}))


class RequiredReasonForm(forms.Form):
    reason = forms.CharField(max_length=500, widget=forms.TextInput(attrs={"size": 60}), help_text="Kept with the change.")


class TopUpForm(forms.Form):
    points = forms.IntegerField(min_value=1, max_value=MAX_TOPUP_POINTS, help_text="Sats received (1 point = 1 sat).")
    note = forms.CharField(max_length=500, widget=forms.TextInput(attrs={"size": 60}), help_text="Where the sats came from.")


class AdjustPointsForm(forms.Form):
    points = forms.IntegerField(
        min_value=-MAX_ADJUSTMENT_POINTS, max_value=MAX_ADJUSTMENT_POINTS,
        help_text="Positive adds available points (from the program budget); negative takes them back.",
    )
    reason = forms.CharField(max_length=500, widget=forms.TextInput(attrs={"size": 60}))


class CatalogItemForm(forms.ModelForm):
    codes_to_add = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        help_text="One-time codes to load, one per line (items that use codes).",
    )

    class Meta:
        model = CatalogItem
        fields = ["name", "description", "kind", "price_points", "stock", "uses_codes", "active", "store"]


class CampaignForm(forms.ModelForm):
    class Meta:
        model = Campaign
        fields = [
            "name", "description", "funder", "starts_at", "ends_at", "days_of_week", "hour_from", "hour_to", "time_zone",
            "on_card_payment", "on_invoice", "stores", "min_purchase_msat", "segment", "segment_days", "effect",
            "multiplier", "bonus_points", "budget_points", "cap_day_points", "cap_week_points", "cap_month_points",
            "cap_total_points",
        ]

    def _post_clean(self):
        super()._post_clean()
        try:
            campaign_validate(campaign=self.instance)
        except ValidationError as exc:
            self._update_errors(exc)
