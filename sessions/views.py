"""The tester's pages: start (consent), screener, camera check, watching, survey, finish, withdrawal.

Every page takes the link token, resolves it through sessions.access and sends the tester to the
step sessions.selectors.tester_step names, so a reload never repeats or skips a step.
"""

from __future__ import annotations

import mimetypes
import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from campaigns.media_serving import media_file_response
from campaigns.models import Campaign
from campaigns.selectors import current_consent, estimated_minutes, screener_questions
from campaigns.tokens import hash_token
from config.errors import ApplicationError
from sessions import selectors, services
from sessions.access import LinkUnavailable, get_campaign_for_open_link, get_tester_for_token
from sessions.forms import ScreenerForm, SurveyForm
from sessions.models import BaselineSnapshot, Tester

SESSION_KEY = "tester_tokens"  # open-link campaign id -> the token of the tester this browser became
STEP_PAGES = {"start", "screener", "camera", "watch", "survey", "finish"}
POSTER_TYPES = {"image/jpeg", "image/png", "image/webp"}


def _page(
    request: HttpRequest, template: str, campaign: Campaign | None, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    """A tester page: the study is called by its public title, never by the researchers' own name."""
    title = selectors.study_title(campaign=campaign) if campaign is not None else ""
    return render(request, template, {**context, "study_title": title}, status=status)


def _unavailable(request: HttpRequest, error: ApplicationError, campaign: Campaign | None = None) -> HttpResponse:
    reason = getattr(error, "reason", "")
    context = {"message": error.message, "reason": reason}
    response = _page(request, "sessions/unavailable.html", campaign, context, status=error.status_code)
    for header, value in error.headers.items():
        response[header] = value
    return response


def tester_page(step: str | None, *, for_withdrawal: bool = False) -> Callable:
    """Resolve the token, speak the campaign's language, and keep the tester on their current step."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        @never_cache
        def wrapper(request: HttpRequest, token: str, **kwargs) -> HttpResponse:
            try:
                tester = get_tester_for_token(request, token, for_withdrawal=for_withdrawal)
            except LinkUnavailable as error:
                return _unavailable(request, error)
            language = selectors.tester_language(campaign=tester.campaign, cookies=request.COOKIES)
            translation.activate(language)
            request.LANGUAGE_CODE = language
            current = selectors.tester_step(tester=tester)
            if step is not None and current.name != step:
                if current.name in STEP_PAGES:
                    return redirect(f"tester:{current.name}", token=token)
                context = {"tester": tester, "token": token}
                return _page(request, f"sessions/{current.name}.html", tester.campaign, context)
            return view(request, tester=tester, token=token, step=current, **kwargs)

        return wrapper

    return decorator


def _posted_int(value: str | None) -> int:
    """A posted id, or 0 (no row has it) for a missing or malformed one."""
    try:
        return int(value or "")
    except ValueError:
        return 0


@require_http_methods(["GET", "POST"])
@tester_page("start")
def start(request: HttpRequest, *, tester: Tester, token: str, step: selectors.Step) -> HttpResponse:
    consent_changed = ""
    if request.method == "POST":
        if request.POST.get("choice") == "agree":
            try:
                services.tester_consent(
                    tester=tester,
                    shown_version_id=_posted_int(request.POST.get("consent_version")),
                    shown_fingerprint=request.POST.get("consent_fingerprint", ""),
                    shown_posed=request.POST.get("consent_posed") == "1",
                )
            except services.ConsentChanged as error:
                # Nothing recorded: show the current text, and say why the page is back.
                consent_changed = error.message
            else:
                next_page = "tester:screener" if selectors.screener_unanswered(tester=tester) else "tester:camera"
                return redirect(next_page, token=token)
        else:
            services.tester_decline(tester=tester)
            return _page(request, "sessions/declined.html", tester.campaign, {"tester": tester, "token": token})
    consent = current_consent(campaign=tester.campaign)
    context = {
        "tester": tester,
        "campaign": tester.campaign,
        "consent": consent,
        "consent_text": consent.text if consent is not None else "",
        "consent_fingerprint": selectors.consent_fingerprint(consent.text) if consent is not None else "",
        "consent_changed": consent_changed,
        "variant_count": tester.campaign.variants.count(),
        "question_count": selectors.survey_questions(campaign=tester.campaign).count(),
        "screener_count": screener_questions(campaign=tester.campaign).count(),
        "duration_minutes": estimated_minutes(campaign=tester.campaign),
        "resting_snapshots": services.BASELINE_SNAPSHOTS[BaselineSnapshot.Kind.RESTING],
        "posed_snapshots": services.BASELINE_SNAPSHOTS[BaselineSnapshot.Kind.POSED_SMILE],
    }
    # 409 when re-shown because the text changed: the agreement was not recorded.
    return _page(request, "sessions/start.html", tester.campaign, context, status=409 if consent_changed else 200)


@require_http_methods(["POST"])
@tester_page("declined")
def reconsider(request: HttpRequest, *, tester: Tester, token: str, step: selectors.Step) -> HttpResponse:
    """ "I changed my mind" on the declined page: back to the consent page, while the link is valid."""
    services.tester_reconsider(tester=tester)
    return redirect("tester:start", token=token)


@require_http_methods(["GET", "POST"])
@tester_page("screener")
def screener(request: HttpRequest, *, tester: Tester, token: str, step: selectors.Step) -> HttpResponse:
    """The researcher's screener questions, after consent and before the camera check."""
    form = ScreenerForm(request.POST or None, questions=screener_questions(campaign=tester.campaign))
    if request.method == "POST" and form.is_valid():
        try:
            services.screener_answers_submit(tester=tester, answers=form.answers())
        except ApplicationError as error:
            form.add_error(None, error.message)
        else:
            return redirect("tester:camera", token=token)
    context = {"tester": tester, "token": token, "form": form}
    return _page(request, "sessions/screener.html", tester.campaign, context)


@require_http_methods(["GET", "POST"])
@tester_page("camera")
def camera(request: HttpRequest, *, tester: Tester, token: str, step: selectors.Step) -> HttpResponse:
    if request.method == "POST":
        try:
            services.tester_camera_set(tester=tester, camera=request.POST.get("camera", ""))
        except ApplicationError as error:
            return _unavailable(request, error, tester.campaign)
        return redirect("tester:watch", token=token)
    context = {
        "tester": tester,
        "token": token,
        "check_url": reverse("inference-api:camera-check", kwargs={"token": token}),
        "baseline_url": reverse("tester-api:baseline", kwargs={"token": token}),
        # "kind:count kind:count": the snapshots still to take of the tester's own face, in order.
        "baseline_plan": " ".join(
            f"{kind}:{services.BASELINE_SNAPSHOTS[kind]}" for kind in selectors.baseline_kinds_to_record(tester=tester)
        ),
    }
    return _page(request, "sessions/camera.html", tester.campaign, context)


@require_http_methods(["GET", "POST"])
@tester_page("watch")
def watch(request: HttpRequest, *, tester: Tester, token: str, step: selectors.Step) -> HttpResponse:
    if request.method == "POST":
        services.tester_variant_viewed(tester=tester, variant_id=request.POST.get("variant", ""))
        return redirect("tester:survey", token=token)
    variant_urls = {"token": token, "variant_id": step.variant.pk}
    context = {
        "tester": tester,
        "token": token,
        "step": step,
        "variant": step.variant,
        "capture": tester.camera == Tester.Camera.GRANTED,
        "media_url": reverse("tester:media", kwargs=variant_urls),
        "poster_url": reverse("tester:poster", kwargs=variant_urls) if step.variant.poster else "",
        "upload_url": reverse("tester-api:frames", kwargs={"token": token}),
        "display_ms": tester.campaign.image_display_seconds * 1000,
        "interval_ms": int(tester.campaign.capture_interval_seconds * 1000),
    }
    return _page(request, "sessions/watch.html", tester.campaign, context)


@require_http_methods(["GET", "POST"])
@tester_page("survey")
def survey(request: HttpRequest, *, tester: Tester, token: str, step: selectors.Step) -> HttpResponse:
    questions = selectors.survey_questions(campaign=tester.campaign)
    form = SurveyForm(request.POST or None, questions=questions)
    if request.method == "POST" and form.is_valid():
        services.survey_answers_submit(tester=tester, variant_id=str(step.variant.pk), answers=form.answers())
        return redirect("tester:watch", token=token)
    context = {"tester": tester, "token": token, "step": step, "form": form}
    return _page(request, "sessions/survey.html", tester.campaign, context)


@tester_page("finish")
def finish(request: HttpRequest, *, tester: Tester, token: str, step: selectors.Step) -> HttpResponse:
    return _page(request, "sessions/finish.html", tester.campaign, {"tester": tester, "token": token})


@require_http_methods(["GET", "POST"])
@tester_page(None, for_withdrawal=True)
def withdraw(request: HttpRequest, *, tester: Tester, token: str, step: selectors.Step) -> HttpResponse:
    if request.method == "POST":
        services.tester_withdraw(tester=tester)
        return _page(request, "sessions/withdrawn.html", tester.campaign, {"campaign": tester.campaign})
    return _page(request, "sessions/withdraw.html", tester.campaign, {"tester": tester, "token": token})


@require_http_methods(["GET"])
@tester_page(None, for_withdrawal=True)
def my_data(request: HttpRequest, *, tester: Tester, token: str, step: selectors.Step) -> HttpResponse:
    """Everything stored about this tester as a JSON download (GDPR Art. 15). Still open after the
    link expired, like withdrawal: the right of access outlives the study."""
    response = JsonResponse(selectors.tester_personal_data(tester=tester), json_dumps_params={"indent": 2})
    response["Content-Disposition"] = 'attachment; filename="mimik-my-data.json"'
    return response


@tester_page(None)
def variant_media(
    request: HttpRequest, *, tester: Tester, token: str, step: selectors.Step, variant_id: uuid.UUID
) -> HttpResponse:
    """Variant files reach testers only through their own link, never through MEDIA_URL."""
    variant = selectors.variant_for_tester(tester=tester, variant_id=str(variant_id))
    if variant is None or tester.consented_at is None:
        raise Http404
    return media_file_response(
        request, variant.file, content_type=variant.content_type, cache_control="private, no-store"
    )


@tester_page(None)
def variant_poster(
    request: HttpRequest, *, tester: Tester, token: str, step: selectors.Step, variant_id: uuid.UUID
) -> HttpResponse:
    """A video's still, shown by the player until it plays: the same access as the video itself."""
    variant = selectors.variant_for_tester(tester=tester, variant_id=str(variant_id))
    if variant is None or tester.consented_at is None or not variant.poster:
        raise Http404
    content_type = mimetypes.guess_type(variant.poster.name)[0]
    if content_type not in POSTER_TYPES:
        raise Http404
    return media_file_response(request, variant.poster, content_type=content_type, cache_control="private, no-store")


@never_cache
def open_link(request: HttpRequest, token: str) -> HttpResponse:
    """A campaign's open link makes a new pseudonymous tester per browser, while the quota lasts."""
    try:
        campaign = get_campaign_for_open_link(request, token)
    except LinkUnavailable as error:
        return _unavailable(request, error)
    own_tokens = request.session.get(SESSION_KEY, {})
    known = own_tokens.get(str(campaign.pk))
    if known and Tester.objects.filter(token_hash=hash_token(known)).exists():
        return redirect("tester:start", token=known)
    if campaign.status != Campaign.Status.RUNNING:
        return _page(request, "sessions/closed.html", campaign, {"campaign": campaign}, status=409)
    try:
        _tester, tester_token = services.tester_create_for_open_link(campaign=campaign)
    except ApplicationError as error:
        return _unavailable(request, error, campaign)
    request.session[SESSION_KEY] = {**own_tokens, str(campaign.pk): tester_token}
    return redirect("tester:start", token=tester_token)
