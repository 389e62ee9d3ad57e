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
class CampaignAdmin(admin.ModelAdmin):
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
class InvitationAdmin(admin.ModelAdmin):
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
