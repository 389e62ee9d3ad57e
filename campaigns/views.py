"""Researcher pages. Views only fetch through selectors, validate with forms and call services."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from campaigns import selectors, services
from campaigns.emails import open_link
from campaigns.forms import (
    CampaignForm,
    InvitationForm,
    OpenLinkForm,
    QuestionForm,
    ScreenerQuestionForm,
    VariantForm,
)
from campaigns.media_serving import media_file_response
from campaigns.models import Campaign
from config.errors import ApplicationError


def _detail(campaign: Campaign) -> HttpResponse:
    return redirect("campaigns:detail", campaign_id=campaign.pk)


def campaign_action(action: Callable[[HttpRequest, Campaign], HttpResponse | None]) -> Callable:
    """A POST button on the campaign page: fetch through the access helper, run the service, report
    an ApplicationError as a message, and go back to the campaign page."""

    @login_required
    @require_POST
    @wraps(action)
    def view(request: HttpRequest, campaign_id, **kwargs) -> HttpResponse:
        campaign = selectors.get_campaign_for_user(request.user, campaign_id)
        try:
            response = action(request, campaign, **kwargs)
        except ApplicationError as error:
            messages.error(request, error.message)
            return _detail(campaign)
        return response or _detail(campaign)

    return view


def _form_page(request: HttpRequest, template: str, form, campaign: Campaign | None, **context) -> HttpResponse:
    return render(request, template, {"form": form, "campaign": campaign, **context})


# --- Campaigns --------------------------------------------------------------------------------


@login_required
def campaign_list(request: HttpRequest) -> HttpResponse:
    archived = request.GET.get("archived") == "1"
    campaigns = selectors.campaign_list_for_user(request.user, archived=archived)
    return render(request, "campaigns/campaign_list.html", {"campaigns": campaigns, "archived": archived})


@login_required
def campaign_create(request: HttpRequest) -> HttpResponse:
    organisation = selectors.organisation_for_user(request.user)
    if organisation is None:
        raise Http404(_("Your account does not belong to an organisation."))
    form = CampaignForm(request.POST or None)
    if form.is_valid():
        campaign = services.campaign_create(
            organisation=organisation,
            created_by=request.user,
            consent_text=form.cleaned_data["consent_text"],
            **form.values(),
        )
        messages.success(request, _("Campaign created. Now add the variants and the survey."))
        return _detail(campaign)
    return _form_page(request, "campaigns/campaign_form.html", form, None)


@login_required
def campaign_detail(request: HttpRequest, campaign_id) -> HttpResponse:
    campaign = selectors.get_campaign_for_user(request.user, campaign_id)
    try:
        dashboard_url = reverse("dashboard:campaign", kwargs={"campaign_id": campaign.pk})
    except NoReverseMatch:  # the dashboard app is optional for this page
        dashboard_url = None
    context = {
        "campaign": campaign,
        "dashboard_url": dashboard_url,
        "invite_form": InvitationForm(),
        "open_link_form": OpenLinkForm(initial={"quota": campaign.open_link_quota or 50}),
        **selectors.campaign_page(campaign=campaign),
    }
    return render(request, "campaigns/campaign_detail.html", context)


@login_required
def campaign_edit(request: HttpRequest, campaign_id) -> HttpResponse:
    campaign = selectors.get_campaign_for_user(request.user, campaign_id)
    consent = selectors.current_consent(campaign=campaign)
    form = CampaignForm(request.POST or None, instance=campaign, consent_text=consent.text if consent else "")
    if form.is_valid():
        try:
            services.campaign_update(campaign=campaign, consent_text=form.cleaned_data["consent_text"], **form.values())
        except ApplicationError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, _("Campaign saved."))
            return _detail(campaign)
    return _form_page(request, "campaigns/campaign_form.html", form, campaign)


@campaign_action
def campaign_duplicate(request: HttpRequest, campaign: Campaign) -> HttpResponse:
    copy = services.campaign_duplicate(campaign=campaign, created_by=request.user)
    messages.success(request, _("This is a copy, as a draft. Invitations were not copied."))
    return _detail(copy)


@campaign_action
def campaign_archive(request: HttpRequest, campaign: Campaign) -> HttpResponse:
    services.campaign_archive(campaign=campaign)
    messages.success(request, _("Campaign archived."))
    return redirect("campaigns:list")


@campaign_action
def campaign_unarchive(request: HttpRequest, campaign: Campaign) -> None:
    services.campaign_unarchive(campaign=campaign)
    messages.success(request, _("Campaign restored from the archive."))


@campaign_action
def campaign_start(request: HttpRequest, campaign: Campaign) -> None:
    services.campaign_start(campaign=campaign)
    messages.success(request, _("The campaign is running. Variants and the survey are now locked."))


@campaign_action
def campaign_close(request: HttpRequest, campaign: Campaign) -> None:
    services.campaign_close(campaign=campaign)
    messages.success(request, _("The campaign is closed: no one can join any more."))


# --- Variants ---------------------------------------------------------------------------------


@login_required
def variant_add(request: HttpRequest, campaign_id) -> HttpResponse:
    campaign = selectors.get_campaign_for_user(request.user, campaign_id)
    form = VariantForm(request.POST or None, request.FILES or None)
    if form.is_valid():
        try:
            services.variant_add(campaign=campaign, media=form.cleaned_data["file"], **_texts(form))
        except ApplicationError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, _("Variant added."))
            return _detail(campaign)
    return _form_page(request, "campaigns/variant_form.html", form, campaign)


@login_required
def variant_edit(request: HttpRequest, campaign_id, variant_id) -> HttpResponse:
    variant = selectors.get_variant_for_user(request.user, campaign_id, variant_id)
    form = VariantForm(request.POST or None, request.FILES or None, variant=variant)
    if form.is_valid():
        try:
            services.variant_update(variant=variant, media=form.cleaned_data["file"], **_texts(form))
        except ApplicationError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, _("Variant saved."))
            return _detail(variant.campaign)
    return _form_page(request, "campaigns/variant_form.html", form, variant.campaign, variant=variant)


def _texts(form: VariantForm) -> dict[str, str]:
    return {"label": form.cleaned_data["label"], "description": form.cleaned_data["description"]}


@campaign_action
def variant_delete(request: HttpRequest, campaign: Campaign, variant_id) -> None:
    services.variant_delete(variant=selectors.get_variant_for_user(request.user, campaign.pk, variant_id))
    messages.success(request, _("Variant deleted."))


@login_required
def variant_media(request: HttpRequest, campaign_id, variant_id) -> HttpResponse:
    """The variant's file for researchers, through the access helper rather than MEDIA_URL."""
    variant = selectors.get_variant_for_user(request.user, campaign_id, variant_id)
    response = media_file_response(
        request, variant.file, content_type=variant.content_type, cache_control="private, max-age=3600"
    )
    response["Content-Disposition"] = "inline"
    return response


@login_required
def variant_poster(request: HttpRequest, campaign_id, variant_id) -> HttpResponse:
    """A video variant's still (JPEG), shown before the video plays; 404 for an image."""
    variant = selectors.get_variant_for_user(request.user, campaign_id, variant_id)
    if not variant.poster:
        raise Http404("This variant has no poster.")
    return media_file_response(
        request, variant.poster, content_type="image/jpeg", cache_control="private, max-age=3600"
    )


# --- Survey -----------------------------------------------------------------------------------


@login_required
def question_add(request: HttpRequest, campaign_id) -> HttpResponse:
    campaign = selectors.get_campaign_for_user(request.user, campaign_id)
    form = QuestionForm(request.POST or None)
    if form.is_valid():
        try:
            services.question_add(campaign=campaign, **form.cleaned_data)
        except ApplicationError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, _("Question added."))
            return _detail(campaign)
    return _form_page(request, "campaigns/question_form.html", form, campaign)


@login_required
def question_edit(request: HttpRequest, campaign_id, question_id: int) -> HttpResponse:
    question = selectors.get_question_for_user(request.user, campaign_id, question_id)
    form = QuestionForm(request.POST or None, instance=question)
    if form.is_valid():
        try:
            services.question_update(question=question, **form.cleaned_data)
        except ApplicationError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, _("Question saved."))
            return _detail(question.campaign)
    return _form_page(request, "campaigns/question_form.html", form, question.campaign, question=question)


@campaign_action
def question_delete(request: HttpRequest, campaign: Campaign, question_id: int) -> None:
    services.question_delete(question=selectors.get_question_for_user(request.user, campaign.pk, question_id))
    messages.success(request, _("Question deleted."))


# --- Screener questions -----------------------------------------------------------------------


@login_required
def screener_question_add(request: HttpRequest, campaign_id) -> HttpResponse:
    campaign = selectors.get_campaign_for_user(request.user, campaign_id)
    form = ScreenerQuestionForm(request.POST or None)
    if form.is_valid():
        try:
            services.screener_question_add(campaign=campaign, **form.cleaned_data)
        except ApplicationError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, _("Screener question added."))
            return _detail(campaign)
    return _form_page(request, "campaigns/screener_question_form.html", form, campaign)


@login_required
def screener_question_edit(request: HttpRequest, campaign_id, question_id: int) -> HttpResponse:
    question = selectors.get_screener_question_for_user(request.user, campaign_id, question_id)
    form = ScreenerQuestionForm(request.POST or None, question=question)
    if form.is_valid():
        try:
            services.screener_question_update(question=question, **form.cleaned_data)
        except ApplicationError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, _("Screener question saved."))
            return _detail(question.campaign)
    return _form_page(request, "campaigns/screener_question_form.html", form, question.campaign, question=question)


@campaign_action
def screener_question_delete(request: HttpRequest, campaign: Campaign, question_id: int) -> None:
    question = selectors.get_screener_question_for_user(request.user, campaign.pk, question_id)
    services.screener_question_delete(question=question)
    messages.success(request, _("Screener question deleted."))


# --- Invitations and the open link ------------------------------------------------------------


@login_required
def invitations_add(request: HttpRequest, campaign_id) -> HttpResponse:
    campaign = selectors.get_campaign_for_user(request.user, campaign_id)
    form = InvitationForm(request.POST or None, request.FILES or None)
    if form.is_valid():
        entries = form.cleaned_data["entries"]
        try:
            report = services.invitations_create(
                campaign=campaign, addresses=entries, invited_by=request.user, **form.workplace_choice()
            )
        except services.WorkplaceConfirmationNeeded as warning:
            # Nothing was sent. Every address goes back into the box, those from a CSV file too,
            # since a file input cannot be filled in again.
            workplace = {**warning.extra, "message": warning.message, "from_csv": bool(form.cleaned_data["csv_file"])}
            form = InvitationForm(initial={"addresses": "\n".join(entries)}, workplace=workplace)
        except ApplicationError as error:
            form.add_error(None, error.message)
        else:
            _report_invitations(request, report)
            return _detail(campaign)
    return _form_page(request, "campaigns/invitation_form.html", form, campaign)


def _report_invitations(request: HttpRequest, report: services.InvitationReport) -> None:
    count = len(report.invited)
    if count:
        messages.success(
            request,
            ngettext("%(count)d invitation is being sent.", "%(count)d invitations are being sent.", count)
            % {"count": count},
        )
    if report.workplace_confirmation is not None:
        messages.info(
            request,
            _("Your confirmation is recorded: %(statement)s") % {"statement": report.workplace_confirmation.statement},
        )
    problems = [
        (_("Listed twice, invited once:"), report.duplicates),
        (_("Already invited, not sent again:"), report.already_invited),
        (_("Not valid e-mail addresses, not sent:"), report.malformed),
        (_("At your organisation's own domain and not confirmed, not sent:"), report.left_out),
    ]
    for text, addresses in problems:
        if addresses:
            messages.warning(request, f"{text} {', '.join(addresses)}")


@campaign_action
def invitation_resend(request: HttpRequest, campaign: Campaign, invitation_id: int) -> None:
    invitation = selectors.get_invitation_for_user(request.user, campaign.pk, invitation_id)
    services.invitation_resend(invitation=invitation)
    messages.success(
        request, _("A new link is on its way to %(email)s; the old one no longer works.") % {"email": invitation.email}
    )


@campaign_action
def invitation_revoke(request: HttpRequest, campaign: Campaign, invitation_id: int) -> None:
    invitation = selectors.get_invitation_for_user(request.user, campaign.pk, invitation_id)
    services.invitation_revoke(invitation=invitation)
    messages.success(request, _("The link sent to %(email)s no longer works.") % {"email": invitation.email})


@campaign_action
def open_link_create(request: HttpRequest, campaign: Campaign) -> HttpResponse:
    form = OpenLinkForm(request.POST)
    if not form.is_valid():
        raise ApplicationError(_("Enter a quota of at least 1."))
    token = services.open_link_create(campaign=campaign, quota=form.cleaned_data["quota"])
    # Only the hash is stored, so this response is the one chance to see the link.
    return render(request, "campaigns/open_link.html", {"campaign": campaign, "link": open_link(token)})


@campaign_action
def open_link_disable(request: HttpRequest, campaign: Campaign) -> None:
    services.open_link_disable(campaign=campaign)
    messages.success(request, _("The open link no longer works."))
