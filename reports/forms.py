from django import forms
from django.utils.translation import gettext_lazy as _

from reports.services import DEFAULT_LINK_DAYS, MAX_LINK_DAYS


class ReportLinkForm(forms.Form):
    days = forms.IntegerField(
        label=_("Link expires after (days)"), min_value=1, max_value=MAX_LINK_DAYS, initial=DEFAULT_LINK_DAYS
    )
