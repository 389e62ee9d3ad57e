"""Organisations own campaigns; a campaign has variants, a survey, consent versions, invitations."""

from __future__ import annotations

import re
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import DomainNameValidator, MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

# Anyone can have an address at these, so they never tell who an organisation employs: they are
# never taken as an organisation's own domain. Short on purpose: the organisation's list decides.
FREE_MAIL_DOMAINS = frozenset(
    {"gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "yahoo.com", "icloud.com"}
    | {"web.de", "gmx.de", "gmx.net", "t-online.de", "freenet.de", "posteo.de", "mailbox.org"}
)
DOMAIN_SEPARATORS = re.compile(r"[\s,;]+")


def email_domains(text: str) -> list[str]:
    """The domains in a list like "verlag-eins.de, @verlag-eins.com", lower case, each once."""
    domains = (entry.strip().lstrip("@").strip(".").lower() for entry in DOMAIN_SEPARATORS.split(text or ""))
    return list(dict.fromkeys(domain for domain in domains if domain))


def validate_email_domains(text: str) -> None:
    check = DomainNameValidator()
    for domain in email_domains(text):
        check(domain)
        if domain in FREE_MAIL_DOMAINS:
            raise ValidationError(
                _("%(domain)s is a free-mail provider: anyone can have an address there."),
                params={"domain": domain},
            )


class Organisation(models.Model):
    name = models.CharField(_("name"), max_length=200)
    own_email_domains = models.CharField(
        _("own e-mail domains"),
        max_length=500,
        blank=True,
        validators=[validate_email_domains],
        help_text=_(
            "The domains of the organisation's staff addresses, e.g. “verlag-eins.de, verlag-eins.com”; "
            "subdomains count. Invitations to them need a confirmation that the testers are not employees "
            "(EU AI Act, Art. 5(1)(f)). Empty: the domain of the inviting researcher's own address, "
            "unless it is a free-mail provider."
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """Every researcher account belongs to exactly one organisation."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="memberships")

    def __str__(self) -> str:
        return f"{self.user} @ {self.organisation}"


class Campaign(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        RUNNING = "running", _("Running")
        CLOSED = "closed", _("Closed")

    class OrderMode(models.TextChoices):
        COUNTERBALANCED = "counterbalanced", _("Counterbalanced (balanced Latin square)")
        RANDOM = "random", _("Random")

    class Language(models.TextChoices):
        ENGLISH = "en", _("English")
        GERMAN = "de", _("German")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="campaigns")
    name = models.CharField(_("name"), max_length=200)
    public_title = models.CharField(
        _("title for testers"),
        max_length=200,
        blank=True,
        help_text=_("Shown to testers instead of the internal name. Empty: a neutral “Advertising study”."),
    )
    description = models.TextField(_("description"), blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.DRAFT)
    language = models.CharField(_("language"), max_length=2, choices=Language.choices, default=Language.GERMAN)
    capture_interval_seconds = models.FloatField(
        _("capture interval (seconds)"),
        default=2.0,
        validators=[MinValueValidator(0.5), MaxValueValidator(10.0)],
    )
    image_display_seconds = models.PositiveIntegerField(
        _("image display time (seconds)"), default=10, validators=[MinValueValidator(1), MaxValueValidator(600)]
    )
    confidence_threshold = models.FloatField(
        _("confidence threshold"), default=0.8, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    order_mode = models.CharField(
        _("order of variants"), max_length=20, choices=OrderMode.choices, default=OrderMode.COUNTERBALANCED
    )
    keep_frames = models.BooleanField(
        _("keep snapshots"),
        default=False,
        help_text=_("Off by default: snapshots are analysed and discarded. On: kept until the retention date."),
    )
    frame_retention_days = models.PositiveIntegerField(_("keep snapshots for (days)"), default=30)
    posed_expressions = models.BooleanField(
        _("ask for posed expressions"),
        default=False,
        help_text=_(
            "Before the first advertisement every tester's resting face is recorded for a few seconds. On: "
            "testers are also asked for a brief smile and a neutral face, which shows how well the model "
            "reads each of them. The consent page says so; testers who agreed before it was switched on are "
            "not asked."
        ),
    )
    invitation_ttl_days = models.PositiveIntegerField(
        _("invitation links expire after (days)"), default=14, validators=[MinValueValidator(1)]
    )
    open_link_token_hash = models.CharField(max_length=64, blank=True, db_index=True)
    open_link_quota = models.PositiveIntegerField(_("open link quota"), default=0)
    min_frames_per_tester = models.PositiveIntegerField(
        _("minimum analysed snapshots per advertisement"),
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text=_(
            "A tester's emotions count once every advertisement has at least this many analysed snapshots. "
            "Survey answers always count."
        ),
    )
    # Demonstration data made by `manage.py demo`; its pages say so.
    is_demo = models.BooleanField(default=False, editable=False)
    model_version = models.ForeignKey(
        "inference.ModelVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Empty: the globally active model."),
    )
    second_model_version = models.ForeignKey(
        "inference.ModelVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    archived_at = models.DateTimeField(null=True, blank=True)
    # blank=True: the creator's account may be deleted (SET_NULL), and full_clean on a later edit
    # must still accept the campaign.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The counterbalancing slot the next consenting tester gets. A counter, not a count of the
    # testers: a withdrawal deletes its tester, and a count would hand that slot out again.
    # Only sessions.services.tester_consent moves it, under the campaign's row lock.
    next_order_slot = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["organisation", "status"])]

    def __str__(self) -> str:
        return self.name


class ConsentVersion(models.Model):
    """Consent texts are never edited in place: each change after a consent adds a version."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="consent_versions")
    version = models.PositiveIntegerField()
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["campaign", "-version"]
        constraints = [models.UniqueConstraint(fields=["campaign", "version"], name="consent_version_unique")]

    def __str__(self) -> str:
        return f"{self.campaign} consent v{self.version}"


class Variant(models.Model):
    class Kind(models.TextChoices):
        IMAGE = "image", _("Image")
        VIDEO = "video", _("Video")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="variants")
    label = models.CharField(_("label"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    file = models.FileField(upload_to="variants/%Y/%m/")
    content_type = models.CharField(max_length=64)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    # A still from a video, shown in previews and as the player's poster.
    poster = models.ImageField(upload_to="variants/posters/%Y/%m/", blank=True)
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["campaign", "position", "created_at"]

    def __str__(self) -> str:
        return self.label


class Marker(models.Model):
    """A moment the researcher marks on a video variant (the brand shown, the offer, the end card),
    so the timeline shows it and the dashboard compares the seconds after it with those before."""

    class Kind(models.TextChoices):
        BRAND = "brand", _("Brand shown")
        OFFER = "offer", _("Offer")
        END_CARD = "end_card", _("End card")
        STORY = "story", _("Story moment")

    variant = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="markers")
    at_ms = models.PositiveIntegerField(_("at (ms of media time)"))
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.BRAND)
    label = models.CharField(_("label"), max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["variant", "at_ms", "pk"]

    def __str__(self) -> str:
        return self.label or self.get_kind_display()


class SurveyQuestion(models.Model):
    """Asked after every variant. A scale question has labelled ends; a text question is free."""

    class Kind(models.TextChoices):
        SCALE = "scale", _("Rating scale")
        TEXT = "text", _("Free text")

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="questions")
    position = models.PositiveIntegerField(default=0)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.SCALE)
    text = models.CharField(_("question"), max_length=500)
    scale_min = models.SmallIntegerField(default=1)
    scale_max = models.SmallIntegerField(default=7)
    min_label = models.CharField(max_length=100, blank=True)
    max_label = models.CharField(max_length=100, blank=True)
    required = models.BooleanField(default=True)

    class Meta:
        ordering = ["campaign", "position", "id"]

    def __str__(self) -> str:
        return self.text


MAX_SCREENER_CHOICES = 20
MAX_SCREENER_CHOICE_LENGTH = 100


class ScreenerQuestion(models.Model):
    """Asked once, before the first advertisement, so the dashboard can show a group of testers (an
    audience) on its own. The answer is one of `choices`, stored as the text the tester picked;
    choices cannot change once testers answer, since screener questions are editable only in a draft."""

    class Kind(models.TextChoices):
        AGE_BAND = "age_band", _("Age band")
        GENDER = "gender", _("Gender")
        CUSTOMER = "customer", _("Customer")
        CHOICE = "choice", _("Choice of your own")

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="screener_questions")
    position = models.PositiveIntegerField(default=0)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.CHOICE)
    text = models.CharField(_("question"), max_length=500)
    choices = models.JSONField(_("choices"), default=list)

    class Meta:
        ordering = ["campaign", "position", "id"]

    def __str__(self) -> str:
        return self.text

    def clean(self) -> None:
        choices = self.choices if isinstance(self.choices, list) else None
        if choices is None or not all(isinstance(choice, str) and choice.strip() for choice in choices):
            raise ValidationError({"choices": _("Each choice must be a line of text.")})
        if len(choices) < 2:
            raise ValidationError({"choices": _("Give at least two choices.")})
        if len({choice.strip().casefold() for choice in choices}) != len(choices):
            raise ValidationError({"choices": _("Each choice may appear only once.")})
        if any(len(choice) > MAX_SCREENER_CHOICE_LENGTH for choice in choices):
            raise ValidationError(
                {
                    "choices": _("A choice may have at most %(count)s characters.")
                    % {"count": MAX_SCREENER_CHOICE_LENGTH}
                }
            )
        if len(choices) > MAX_SCREENER_CHOICES:
            raise ValidationError(
                {"choices": _("A question may have at most %(count)s choices.") % {"count": MAX_SCREENER_CHOICES}}
            )


class InvitationState(models.TextChoices):
    """Derived, never stored: see campaigns.selectors.invitations_with_state."""

    QUEUED = "queued", _("Queued")
    SENT = "sent", _("Sent")
    OPENED = "opened", _("Opened")
    CONSENTED = "consented", _("Consented")
    COMPLETED = "completed", _("Completed")
    WITHDRAWN = "withdrawn", _("Withdrawn")
    EXPIRED = "expired", _("Expired")
    BOUNCED = "bounced", _("Bounced")
    REVOKED = "revoked", _("Revoked")


class Invitation(models.Model):
    """One e-mailed link. Only a hash of the token is stored; the link itself is in the e-mail."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    send_error = models.CharField(max_length=500, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["campaign", "created_at"]
        constraints = [models.UniqueConstraint(fields=["campaign", "email"], name="invitation_email_unique")]

    def __str__(self) -> str:
        return f"{self.email} ({self.campaign})"


class WorkplaceConfirmation(models.Model):
    """A researcher's confirmation that invited addresses at the organisation's own domains are not
    its employees, nor taking part at their workplace: the EU AI Act (Art. 5(1)(f)) prohibits emotion
    recognition at the workplace. Evidence, so never edited; the addresses themselves are not copied
    here (they stay on the invitations, which are erased on schedule)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="workplace_confirmations")
    # The account may be deleted later; the name it had stays with the record.
    confirmed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    confirmed_by_name = models.CharField(max_length=254)
    confirmed_at = models.DateTimeField(auto_now_add=True)
    domains = models.JSONField(default=list)
    address_count = models.PositiveIntegerField()
    statement = models.TextField()

    class Meta:
        ordering = ["campaign", "-confirmed_at"]

    def __str__(self) -> str:
        return f"{self.confirmed_by_name}: {self.address_count} at {', '.join(self.domains)} ({self.campaign})"
