from django.db import migrations, models


def card_for_default_model(apps, schema_editor):
    from inference.default_model import DEFAULT_MODEL, DEFAULT_MODEL_CARD

    ModelVersion = apps.get_model("inference", "ModelVersion")
    # Only an empty card: never overwrite one an operator wrote.
    ModelVersion.objects.filter(name=DEFAULT_MODEL["name"], version=DEFAULT_MODEL["version"], model_card="").update(
        model_card=DEFAULT_MODEL_CARD
    )


class Migration(migrations.Migration):
    dependencies = [("inference", "0004_calibrated_sums")]

    operations = [
        migrations.AddField(
            model_name="modelversion",
            name="model_card",
            field=models.TextField(
                blank=True, help_text="Markdown model card (ml.model_card): training data, licence, figures, limits."
            ),
        ),
        migrations.RunPython(card_for_default_model, migrations.RunPython.noop),
    ]
