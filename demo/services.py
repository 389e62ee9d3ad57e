"""The demo's campaigns, made through the product's own services: a running one a newcomer can take
part in, and a closed one whose dashboard is already filled.

The closed campaign's testers go the way real ones do: an invitation each, consent (which assigns
the counterbalanced order), the camera, every variant with a snapshot per capture interval through
the upload service (`sessions.services.frame_accept`), and the survey after each variant. The
snapshots are analysed by the workers' own code (face detection, quality gates, the model, the
calibration): where a broker took them, the demo analyses them here as well, so the dashboard is
complete before the server starts, and the worker later finds nothing left to do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone

from campaigns import services
from campaigns.capture import snapshots_per_showing
from campaigns.media_validation import validate_variant_upload
from campaigns.models import Campaign, Invitation, Organisation, SurveyQuestion
from demo import media as demo_media
from sessions import services as tester_services
from sessions.models import Frame, Tester

LIVE_NAME = "Herbstkampagne (Demo)"
FINISHED_NAME = "Frühjahrskampagne (Demo, abgeschlossen)"
CONSENT = (
    "Während Sie die Varianten ansehen, nimmt die Seite in Abständen Standbilder Ihrer Kamera auf. "
    "Die Bilder werden automatisch ausgewertet und danach verworfen; gespeichert werden nur die "
    "Emotionswerte unter einer pseudonymen Kennung. Sie können Ihre Einwilligung jederzeit widerrufen."
)
LIKING = "Wie gut gefällt Ihnen diese Anzeige?"
CREDIBLE = "Wie glaubwürdig wirkt die Anzeige auf Sie?"
REMARK = "Möchten Sie etwas anmerken?"

# The closed campaign: 12 testers who took part (the last one in a dim room, whose snapshots are
# mostly too dark, so the dashboard shows an excluded tester too) and 2 invitations never opened.
TESTERS = 12
UNOPENED_INVITATIONS = 2
SEED = 2026


@dataclass(frozen=True)
class DemoVariant:
    label: str
    # Chance of a smiling snapshot, by snapshot position (a video's scenes); the last one repeats.
    smile_chance: tuple[float, ...]
    liking: float  # mean rating on the 1-7 scales
    credible: float
    comments: tuple[str, ...]


FINISHED_VARIANTS = (
    DemoVariant(
        "A: Frühlingsgefühle",
        (0.75,),
        5.4,
        5.1,
        (
            "Die Farben wirken frisch, da bekommt man Lust auf den Frühling.",
            "Schlicht, aber sympathisch.",
            "Die Schrift ist gut lesbar, auch aus der Entfernung.",
            "Hat mich an die ersten warmen Tage erinnert.",
            "Ein Bild von einem Buch hätte mir noch gefehlt.",
        ),
    ),
    DemoVariant(
        "B: Jetzt 20 % sparen",
        (0.4,),
        3.7,
        3.4,
        (
            "Der Rabatt springt sofort ins Auge, sonst bleibt wenig hängen.",
            "Wirkt etwas aufdringlich.",
            "Zu viel Orange für meinen Geschmack.",
            "Sparen ist gut, aber worum geht es eigentlich?",
            "Erinnert mich an Prospekte aus dem Baumarkt.",
        ),
    ),
    DemoVariant(
        "C: Frühjahrs-Spot (Video)",
        (0.2, 0.35, 0.6, 0.8, 0.85),
        4.9,
        4.6,
        (
            "Der Anfang zieht sich, das Ende ist gelungen.",
            "Die Auflösung am Schluss hat mir gefallen.",
            "Ohne Ton wirkt der Spot etwas karg.",
            "Schöne Farbübergänge.",
            "Zehn Sekunden sind genau richtig.",
        ),
    ),
)
SPOT_SCENES = [
    ("Der Winter war lang …", (70, 90, 120)),
    ("… die Tage werden heller.", (90, 140, 190)),
    ("Neue Bücher für den Frühling", (60, 150, 90)),
    ("Demo Verlag", (200, 150, 40)),
    ("Jetzt im Handel", (46, 139, 87)),
]


def _upload(name: str, content: bytes, content_type: str):
    return validate_variant_upload(SimpleUploadedFile(name, content, content_type=content_type))


def mark_as_demo(campaign: Campaign) -> None:
    """`is_demo` is no form field: only the demo sets it, so the campaign's pages can say so."""
    Campaign.objects.filter(pk=campaign.pk, is_demo=False).update(is_demo=True)
    campaign.is_demo = True


# --- The running campaign ------------------------------------------------------------------------


def live_campaign_ensure(*, organisation: Organisation, user) -> Campaign:
    campaign = Campaign.objects.filter(organisation=organisation, name=LIVE_NAME).first()
    if campaign is None:
        campaign = _live_campaign_create(organisation=organisation, user=user)
    mark_as_demo(campaign)
    return campaign


@transaction.atomic
def _live_campaign_create(*, organisation: Organisation, user) -> Campaign:
    campaign = services.campaign_create(
        organisation=organisation,
        created_by=user,
        consent_text=CONSENT,
        name=LIVE_NAME,
        public_title="Anzeigenstudie (Demo)",
        description="Demonstration: zwei Anzeigenmotive für den Herbstkatalog. Nehmen Sie selbst teil.",
        image_display_seconds=8,
    )
    posters = [
        ("A: Leseglück", "Geschichten für lange Abende", (31, 95, 191)),
        ("B: Bestseller", "Die Bücher der Saison", (179, 38, 30)),
    ]
    for position, (label, subtitle, colour) in enumerate(posters):
        media = _upload(f"demo-{position}.png", demo_media.poster_png(label, subtitle, colour), "image/png")
        services.variant_add(campaign=campaign, label=label, media=media)
    _survey(campaign, credibility=False)
    return services.campaign_start(campaign=campaign)


def _survey(campaign: Campaign, *, credibility: bool) -> None:
    scale = {"kind": SurveyQuestion.Kind.SCALE, "min_label": "gar nicht", "max_label": "sehr"}
    services.question_add(campaign=campaign, text=LIKING, **{**scale, "max_label": "sehr gut"})
    if credibility:
        services.question_add(campaign=campaign, text=CREDIBLE, **scale)
    services.question_add(campaign=campaign, kind=SurveyQuestion.Kind.TEXT, text=REMARK, required=False)


# --- The closed campaign -------------------------------------------------------------------------


def finished_campaign_ensure(*, organisation: Organisation, user) -> tuple[Campaign, bool]:
    """The closed demo campaign with its results; (campaign, whether it was made now). A closed one
    is left as it is, so running the demo again changes nothing; one that an interrupted run left
    unfinished is made again."""
    campaign = Campaign.objects.filter(organisation=organisation, name=FINISHED_NAME, is_demo=True).first()
    if campaign is not None and campaign.status == Campaign.Status.CLOSED:
        return campaign, False
    if campaign is not None:
        _demo_campaign_delete(campaign)
    return _finished_campaign_create(organisation=organisation, user=user), True


@transaction.atomic
def _demo_campaign_delete(campaign: Campaign) -> None:
    files = [file for variant in campaign.variants.all() for file in (variant.file, variant.poster) if file]
    # Testers first: their consent records protect the consent versions the campaign would take along.
    Tester.objects.filter(campaign=campaign).delete()
    campaign.delete()
    transaction.on_commit(lambda: [file.storage.delete(file.name) for file in files])


def _finished_campaign_create(*, organisation: Organisation, user) -> Campaign:
    """Step by step, not in one transaction: where no broker runs, each snapshot is analysed as it
    is accepted, by the task code, which starts from a fresh database connection. The campaign
    counts as made once it is closed, the last step."""
    campaign = services.campaign_create(
        organisation=organisation,
        created_by=user,
        consent_text=CONSENT,
        name=FINISHED_NAME,
        public_title="Anzeigenstudie (Demo)",
        description=(
            "Demonstrationsdaten: zwölf erfundene Testpersonen, deren Kamerabilder aus einem gemeinfreien "
            "Porträtfoto erzeugt und von der echten Auswertung analysiert wurden."
        ),
        capture_interval_seconds=2.0,
        image_display_seconds=10,
    )
    mark_as_demo(campaign)
    _finished_variants(campaign)
    _survey(campaign, credibility=True)
    campaign = services.campaign_start(campaign=campaign)
    addresses = [f"demo.teilnehmer{number:02d}@example.com" for number in range(1, TESTERS + UNOPENED_INVITATIONS + 1)]
    services.invitations_create(campaign=campaign, addresses=addresses, send=False)
    invitations = Invitation.objects.filter(campaign=campaign).order_by("email")[:TESTERS]
    rng = np.random.default_rng(SEED)
    images: dict[int, bytes] = {}
    for index, invitation in enumerate(invitations):
        images.update(_take_part(campaign, invitation, rng, dim_room=index == TESTERS - 1, index=index))
    frames_analyse_here(images)
    return services.campaign_close(campaign=campaign)


def _finished_variants(campaign: Campaign) -> None:
    """Two posters and the video spot (a third poster where OpenCV cannot encode the video here)."""
    posters = [("Neue Romane für helle Tage", (46, 139, 87)), ("Nur bis Ostern", (214, 110, 24))]
    spot = demo_media.spot_webm(SPOT_SCENES)
    for position, plan in enumerate(FINISHED_VARIANTS):
        if position == len(posters) and spot is not None:
            media = _upload("demo-spot.webm", spot, "video/webm")
        else:
            subtitle, colour = posters[position] if position < len(posters) else ("Jetzt im Handel", (200, 150, 40))
            title = plan.label.split(": ", 1)[-1]
            media = _upload(f"demo-spring-{position}.png", demo_media.poster_png(title, subtitle, colour), "image/png")
        services.variant_add(campaign=campaign, label=plan.label, media=media)


def _take_part(
    campaign: Campaign, invitation: Invitation, rng: np.random.Generator, *, dim_room: bool, index: int
) -> dict[int, bytes]:
    """One tester's whole visit; returns the accepted snapshots' JPEGs by frame id."""
    tester = tester_services.tester_create_for_invitation(invitation=invitation)
    tester = tester_services.tester_consent(tester=tester)
    tester_services.tester_camera_set(tester=tester, camera=Tester.Camera.GRANTED)
    sitting = demo_media.Sitting.draw(rng)
    cheerfulness = float(rng.normal(0, 0.12))
    variants = {str(variant.pk): variant for variant in campaign.variants.all()}
    questions = list(campaign.questions.all())
    images: dict[int, bytes] = {}
    for position, variant_id in enumerate(tester.variant_order):
        variant = variants[variant_id]
        plan = FINISHED_VARIANTS[variant.position]
        showing = variant.duration_ms / 1000 if variant.duration_ms else campaign.image_display_seconds
        shots = snapshots_per_showing(showing, campaign.capture_interval_seconds)
        # Every tester has one snapshot the gates turn away, on a variant and moment of its own.
        trouble = (index % len(tester.variant_order), 1 + index % (shots - 1))
        smiles = 0
        for sequence in range(shots):
            chance = plan.smile_chance[min(sequence, len(plan.smile_chance) - 1)] + cheerfulness
            expression = demo_media.SMILE if rng.random() < chance else _not_smiling(rng)
            smiles += expression == demo_media.SMILE
            problem = None
            if dim_room and sequence > 0:
                problem = demo_media.DARK
            elif (position, sequence) == trouble:
                problem = demo_media.PROBLEMS[index % len(demo_media.PROBLEMS)]
            jpeg = demo_media.webcam_jpeg(sitting=sitting, expression=expression, rng=rng, problem=problem)
            frame = tester_services.frame_accept(
                tester=tester,
                variant_id=variant_id,
                sequence=sequence,
                media_time_ms=round(sequence * campaign.capture_interval_seconds * 1000),
                captured_at=timezone.now(),
                image_bytes=jpeg,
            )
            if frame is not None:
                images[frame.pk] = jpeg
        tester_services.tester_variant_viewed(tester=tester, variant_id=variant_id)
        tester.refresh_from_db()
        answers = _answers(
            questions, plan, smiles / shots, rng, comment=index % len(FINISHED_VARIANTS) == variant.position
        )
        tester_services.survey_answers_submit(tester=tester, variant_id=variant_id, answers=answers)
        tester.refresh_from_db()
    return images


def _not_smiling(rng: np.random.Generator) -> str:
    return demo_media.GRIMACE if rng.random() < 0.6 else demo_media.FROWN


def _answers(
    questions: list[SurveyQuestion], plan: DemoVariant, smiled: float, rng: np.random.Generator, *, comment: bool
) -> dict[int, int | str | None]:
    """Ratings near the variant's mean, higher for a tester who smiled more; now and then a remark."""
    answers: dict[int, int | str | None] = {}
    for question in questions:
        if question.kind == SurveyQuestion.Kind.TEXT:
            says = comment or rng.random() < 0.15
            answers[question.pk] = str(rng.choice(plan.comments)) if says else None
            continue
        mean = plan.liking if question.text == LIKING else plan.credible
        rating = mean + 2.5 * (smiled - np.mean(plan.smile_chance)) + rng.normal(0, 0.7)
        answers[question.pk] = int(np.clip(round(rating), question.scale_min, question.scale_max))
    return answers


def frames_analyse_here(images: dict[int, bytes]) -> None:
    """Analyse, in this process and in the workers' batches, whichever of these frames are still
    pending: those a broker took (the embedded fallback has analysed them already). The workers'
    claim makes the later delivery of the same frames a no-op."""
    from inference.tasks import FRAME_BATCH_SIZE, analyse_frames_now

    pending = sorted(Frame.objects.filter(pk__in=images, outcome=Frame.Outcome.PENDING).values_list("pk", flat=True))
    for start in range(0, len(pending), FRAME_BATCH_SIZE):
        analyse_frames_now([(pk, images[pk]) for pk in pending[start : start + FRAME_BATCH_SIZE]])
