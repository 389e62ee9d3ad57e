# The per-campaign counter of counterbalancing slots (sessions.services.tester_consent). Existing
# campaigns continue after the highest slot any remaining tester holds; slots of testers who
# already withdrew cannot be known any more, so at worst one of those is handed out once more.

from django.db import migrations, models
from django.db.models import Max


def continue_after_existing_slots(apps, schema_editor) -> None:
    Campaign = apps.get_model("campaigns", "Campaign")
    Tester = apps.get_model("tester_sessions", "Tester")
    highest = (
        Tester.objects.filter(consented_at__isnull=False)
        .values("campaign_id")
        .annotate(highest=Max("order_slot"))
        .order_by()
    )
    for row in highest:
        Campaign.objects.filter(pk=row["campaign_id"]).update(next_order_slot=row["highest"] + 1)


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0003_campaign_created_by_blank"),
        ("tester_sessions", "0002_tester_progress"),
    ]

    operations = [
        migrations.AddField(
            model_name="campaign",
            name="next_order_slot",
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.RunPython(continue_after_existing_slots, migrations.RunPython.noop),
    ]
