"""Forms validate input; the services in campaigns.services write."""

from __future__ import annotations

import csv
import io
import re

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from campaigns import selectors
from campaigns.capture import snapshots_per_showing
from campaigns.media_validation import MAX_IMAGE_SIDE, ValidatedMedia, validate_variant_upload
from campaigns.models import (
    MAX_SCREENER_CHOICE_LENGTH,
    MAX_SCREENER_CHOICES,
    Campaign,
    ScreenerQuestion,
    SurveyQuestion,
    Variant,
)
from campaigns.services import CAMPAIGN_FIELDS

MEDIA_ACCEPT = "image/jpeg,image/png,image/webp,video/mp4,video/webm,.jpg,.jpeg,.png,.webp,.mp4,.webm"
ADDRESS_SEPARATORS = re.compile(r"[\s,;]+")
MAX_ADDRESSES = 5000


class CampaignForm(forms.ModelForm):
    consent_text = forms.CharField(
        label=_("Consent text"),
        widget=forms.Textarea(attrs={"rows": 6}),
        required=False,
        help_text=_(
            "Shown to every tester before the camera is switched on. Editing it after someone has "
            "consented creates a new version; each consent records the version accepted."
        ),
    )

    class Meta:
        model = Campaign
        fields = CAMPAIGN_FIELDS
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            "capture_interval_seconds": forms.NumberInput(attrs={"step": "0.1", "min": "0.5", "max": "10"}),
            "confidence_threshold": forms.NumberInput(attrs={"step": "0.05", "min": "0", "max": "1"}),
        }

    def __init__(self, *args, consent_text: str = "", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["consent_text"].initial = consent_text
        if not self.instance.pk:
            self.fields["invitation_ttl_days"].initial = settings.MIMIK["INVITATION_TTL_DAYS"]
        # An edit must keep every video already on the campaign able to give the minimum.
        self.videos = selectors.campaign_videos(campaign=self.instance) if self.instance.pk else []

    def clean(self) -> dict:
        data = super().clean()
        interval = data.get("capture_interval_seconds")
        display_seconds = data.get("image_display_seconds")
        minimum = data.get("min_frames_per_tester")
        if interval and display_seconds and minimum:
            for problem in selectors.capture_shortfalls(
                interval=interval, display_seconds=display_seconds, minimum=minimum, images=True, videos=self.videos
            ):
                self.add_error(None, problem)
        return data

    def values(self) -> dict:
        return {name: self.cleaned_data[name] for name in CAMPAIGN_FIELDS}

    def _current(self, name: str) -> float:
        """The value the form shows now: what was typed if it is a positive number, else the saved
        (or default) setting."""
        try:
            value = float(self[name].value())
        except (TypeError, ValueError):
            value = 0
        return value if value > 0 else getattr(self.instance, name)

    def snapshot_lines(self) -> list[dict]:
        """How many snapshots an image and each video on the campaign give at the values shown, as
        text and as templates (%(count)s, %(interval)s and an image's %(seconds)s left open) for
        static/js/campaign_form.js, which redoes the count as the researcher types."""
        interval, minimum = self._current("capture_interval_seconds"), self.snapshot_minimum()
        shown = [(_image_line, None, self._current("image_display_seconds"))]
        shown += [(_video_line, video.label, video.duration_ms / 1000) for video in self.videos if video.duration_ms]
        lines = []
        for line, label, seconds in shown:
            count = snapshots_per_showing(seconds, interval)
            seconds_text = selectors.seconds_text(seconds)
            open_values = {"label": label, "count": "%(count)s", "interval": "%(interval)s"}
            open_values["seconds"] = "%(seconds)s" if label is None else seconds_text
            values = {"label": label, "count": count, "interval": selectors.seconds_text(interval)}
            lines.append(
                {
                    "seconds": "image" if label is None else seconds,
                    "one": line(1) % open_values,
                    "other": line(2) % open_values,
                    "text": line(count) % {**values, "seconds": seconds_text},
                    "short": count < minimum,
                }
            )
        return lines

    def snapshot_minimum(self) -> int:
        return int(self._current("min_frames_per_tester"))


def _image_line(count: int) -> str:
    return ngettext(
        "An image shown %(seconds)s s gives %(count)s snapshot at one every %(interval)s s.",
        "An image shown %(seconds)s s gives %(count)s snapshots at one every %(interval)s s.",
        count,
    )


def _video_line(count: int) -> str:
    return ngettext(
        "The video “%(label)s” (%(seconds)s s) gives %(count)s snapshot at one every %(interval)s s.",
        "The video “%(label)s” (%(seconds)s s) gives %(count)s snapshots at one every %(interval)s s.",
        count,
    )


class VariantForm(forms.Form):
    label = forms.CharField(label=_("Label"), max_length=100)
    description = forms.CharField(label=_("Description"), widget=forms.Textarea(attrs={"rows": 2}), required=False)
    file = forms.FileField(
        label=_("Image or video"),
        help_text=_(
            "JPEG, PNG or WebP image (stored at most %(side)s pixels on its longest side), or a video "
            "browsers play: H.264 in MP4, or VP8, VP9 or AV1 in WebM."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": MEDIA_ACCEPT}),
    )

    def __init__(self, *args, variant: Variant | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["file"].help_text = self.fields["file"].help_text % {"side": MAX_IMAGE_SIDE}
        if variant is not None:
            self.fields["label"].initial = variant.label
            self.fields["description"].initial = variant.description
            self.fields["file"].required = False
            self.fields["file"].help_text = _("Leave empty to keep the current file.")

    def clean_file(self) -> ValidatedMedia | None:
        upload = self.cleaned_data.get("file")
        return validate_variant_upload(upload) if upload else None


class QuestionForm(forms.ModelForm):
    class Meta:
        model = SurveyQuestion
        fields = ["kind", "text", "scale_min", "scale_max", "min_label", "max_label", "required"]
        labels = {
            "kind": _("Kind"),
            "scale_min": _("Lowest rating"),
            "scale_max": _("Highest rating"),
            "min_label": _("Label of the lowest rating"),
            "max_label": _("Label of the highest rating"),
            "required": _("Answer required"),
        }

    def clean(self) -> dict:
        data = super().clean()
        if data.get("kind") == SurveyQuestion.Kind.SCALE:
            low, high = data.get("scale_min"), data.get("scale_max")
            if low is not None and high is not None and not (high > low and high - low <= 10):
                raise forms.ValidationError(_("The highest rating must be above the lowest, by at most 10."))
        return data


class ScreenerQuestionForm(forms.Form):
    """A screener question: a fixed kind may leave the question and the choices empty for its
    defaults (selectors.screener_defaults); a choice question of the researcher's own needs both."""

    kind = forms.ChoiceField(label=_("Kind"), choices=ScreenerQuestion.Kind.choices)
    text = forms.CharField(label=_("Question"), max_length=500, required=False)
    choices = forms.CharField(
        label=_("Choices"),
        widget=forms.Textarea(attrs={"rows": 5}),
        required=False,
        help_text=_(
            "One per line; the tester picks exactly one. Offer “Prefer not to say” where a tester may not want "
            "to answer. Left empty, an age band, gender or customer question gets its usual choices."
        ),
    )

    def __init__(self, *args, question: ScreenerQuestion | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if question is not None:
            self.fields["kind"].initial = question.kind
            self.fields["text"].initial = question.text
            self.fields["choices"].initial = "\n".join(question.choices)

    def clean_choices(self) -> list[str]:
        lines = [line.strip() for line in (self.cleaned_data.get("choices") or "").splitlines()]
        lines = [line for line in lines if line]
        if len(lines) > MAX_SCREENER_CHOICES:
            raise forms.ValidationError(
                _("A question may have at most %(count)s choices.") % {"count": MAX_SCREENER_CHOICES}
            )
        if any(len(line) > MAX_SCREENER_CHOICE_LENGTH for line in lines):
            raise forms.ValidationError(
                _("A choice may have at most %(count)s characters.") % {"count": MAX_SCREENER_CHOICE_LENGTH}
            )
        if len({line.casefold() for line in lines}) != len(lines):
            raise forms.ValidationError(_("Each choice may appear only once."))
        return lines

    def clean(self) -> dict:
        data = super().clean()
        if data.get("kind") == ScreenerQuestion.Kind.CHOICE:
            if not (data.get("text") or "").strip():
                self.add_error("text", _("Write the question."))
            if len(data.get("choices") or []) < 2:
                self.add_error("choices", _("Give at least two choices."))
        elif data.get("choices") is not None and len(data["choices"]) == 1:
            self.add_error("choices", _("Give at least two choices."))
        return data


class InvitationForm(forms.Form):
    addresses = forms.CharField(
        label=_("E-mail addresses"),
        widget=forms.Textarea(attrs={"rows": 5, "placeholder": "anna@example.com, ben@example.org"}),
        required=False,
        help_text=_("Separated by commas, semicolons, spaces or new lines."),
    )
    csv_file = forms.FileField(
        label=_("or a CSV file"),
        required=False,
        help_text=_("The column headed “email” is used, or else the first column."),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )
    # Come back once the researcher saw the warning about addresses at the organisation's own
    # domains: the statement shown, whether it was ticked, or the button that leaves them out.
    workplace_statement = forms.CharField(required=False, widget=forms.HiddenInput)
    workplace_confirmed = forms.BooleanField(required=False)
    leave_out_own_domain = forms.BooleanField(required=False)

    def __init__(self, *args, workplace: dict | None = None, **kwargs) -> None:
        """`workplace`: the warning to show (services.WorkplaceConfirmationNeeded's extra and message)."""
        super().__init__(*args, **kwargs)
        self.workplace = workplace
        if workplace:
            self.fields["workplace_statement"].initial = workplace["statement"]
            self.fields["workplace_confirmed"].widget.attrs["required"] = True

    @property
    def address_fields(self) -> list[forms.BoundField]:
        return [self["addresses"], self["csv_file"]]

    def workplace_choice(self) -> dict:
        """The arguments of services.invitations_create that answer the warning."""
        confirmed = self.cleaned_data["workplace_confirmed"]
        return {
            "workplace_statement": self.cleaned_data["workplace_statement"] if confirmed else "",
            "leave_out_own_domain": self.cleaned_data["leave_out_own_domain"],
        }

    def clean_csv_file(self) -> list[str]:
        upload = self.cleaned_data.get("csv_file")
        if not upload:
            return []
        if upload.size > 2 * 1024 * 1024:
            raise forms.ValidationError(_("The CSV file is too large (at most 2 MB)."))
        try:
            text = upload.read().decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise forms.ValidationError(_("The CSV file must be UTF-8 text.")) from error
        return addresses_from_csv(text)

    def clean(self) -> dict:
        data = super().clean()
        entries = [entry for entry in ADDRESS_SEPARATORS.split(data.get("addresses") or "") if entry]
        entries += data.get("csv_file") or []
        if not entries and not self.errors:
            raise forms.ValidationError(_("Enter at least one e-mail address or choose a CSV file."))
        if len(entries) > MAX_ADDRESSES:
            raise forms.ValidationError(_("At most %(count)s addresses at a time.") % {"count": MAX_ADDRESSES})
        data["entries"] = entries
        return data


def addresses_from_csv(text: str) -> list[str]:
    """The cells of the "email" column if the first row names one, else of the first column."""
    try:
        dialect = csv.Sniffer().sniff(text[:2048], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = [row for row in csv.reader(io.StringIO(text), dialect) if any(cell.strip() for cell in row)]
    if not rows:
        return []
    header = [cell.strip().lower() for cell in rows[0]]
    for name in ("email", "e-mail", "mail", "email address", "e-mail-adresse"):
        if name in header:
            column = header.index(name)
            return [row[column].strip() for row in rows[1:] if len(row) > column and row[column].strip()]
    return [row[0].strip() for row in rows if row and row[0].strip()]


class OpenLinkForm(forms.Form):
    quota = forms.IntegerField(label=_("At most this many testers"), min_value=1, max_value=100000, initial=50)
