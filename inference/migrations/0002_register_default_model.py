from django.db import migrations


def register_default_model(apps, schema_editor):
    from inference.default_model import DEFAULT_MODEL

    ModelVersion = apps.get_model("inference", "ModelVersion")
    defaults = {key: value for key, value in DEFAULT_MODEL.items() if key not in ("name", "version")}
    has_active = ModelVersion.objects.filter(is_active=True).exists()
    ModelVersion.objects.get_or_create(
        name=DEFAULT_MODEL["name"],
        version=DEFAULT_MODEL["version"],
        defaults={**defaults, "is_active": not has_active},
    )


class Migration(migrations.Migration):
    dependencies = [("inference", "0001_initial")]
    operations = [migrations.RunPython(register_default_model, migrations.RunPython.noop)]
