"""Admin for support staff; researchers use the campaign pages, never the admin."""

from django.contrib import admin

from campaigns.models import (
    Campaign,
    ConsentVersion,
    Invitation,
    Membership,
    Organisation,
    SurveyQuestion,
    Variant,
    WorkplaceConfirmation,
)
from sessions.access import upload_eligibility_changed


class UploadEligibilityAdmin(admin.ModelAdmin):
    """Support staff change a campaign's status, its variants or an invitation here, past the
    services that tell the upload path (sessions.access keeps each tester's row per web process).
    After every save or delete, every process reads the rows again, so a link revoked or a campaign
    closed here refuses the very next snapshot. Admin edits are rare: invalidating all rows is fine."""

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        upload_eligibility_changed()

    def save_related(self, request, form, formsets, change) -> None:  # inlines: variants
        super().save_related(request, form, formsets, change)
        upload_eligibility_changed()

    def delete_model(self, request, obj) -> None:
        super().delete_model(request, obj)
        upload_eligibility_changed()

    def delete_queryset(self, request, queryset) -> None:
        super().delete_queryset(request, queryset)
        upload_eligibility_changed()


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ["name", "own_email_domains", "created_at"]
    search_fields = ["name", "own_email_domains"]
    fields = ["name", "own_email_domains"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "organisation"]
    list_select_related = ["user", "organisation"]
    autocomplete_fields = ["organisation"]


class VariantInline(admin.TabularInline):
    model = Variant
    extra = 0
    fields = ["label", "kind", "content_type", "width", "height", "position"]
    readonly_fields = ["kind", "content_type", "width", "height"]


class QuestionInline(admin.TabularInline):
    model = SurveyQuestion
    extra = 0


@admin.register(Campaign)
class CampaignAdmin(UploadEligibilityAdmin):
    list_display = ["name", "organisation", "status", "created_at", "archived_at"]
    list_filter = ["status", "organisation"]
    list_select_related = ["organisation"]
    search_fields = ["name"]
    inlines = [VariantInline, QuestionInline]


@admin.register(ConsentVersion)
class ConsentVersionAdmin(admin.ModelAdmin):
    list_display = ["campaign", "version", "created_at"]
    list_select_related = ["campaign"]
    # Consent texts testers accepted are evidence: never edited here.
    readonly_fields = ["campaign", "version", "text", "created_at"]


@admin.register(Invitation)
class InvitationAdmin(UploadEligibilityAdmin):
    list_display = ["email", "campaign", "sent_at", "opened_at", "revoked_at", "send_error"]
    list_select_related = ["campaign"]
    search_fields = ["email"]
    exclude = ["token_hash"]


@admin.register(WorkplaceConfirmation)
class WorkplaceConfirmationAdmin(admin.ModelAdmin):
    list_display = ["confirmed_at", "confirmed_by_name", "campaign", "domains", "address_count"]
    list_select_related = ["campaign"]
    search_fields = ["confirmed_by_name", "campaign__name"]

    # Evidence of what a researcher confirmed (EU AI Act, Art. 5(1)(f)): shown here, never written.
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
