from django.db import migrations


def install_default_calibration(apps, schema_editor):
    """The shipped calibration (inference/data/default_model_calibration.json) for the default model
    that 0002 registered, active, unless that model already has an active calibration. Skipped when
    the data file was fitted on another model file: its numbers would not describe this one.
    Predictions an upgraded installation already holds are recomputed when the dashboard sees them."""
    from inference.default_calibration import (
        ShippedCalibrationRefused,
        model_file_sha256,
        read_default_calibration,
        shipped_calibration_fields,
    )
    from inference.default_model import DEFAULT_MODEL

    ModelVersion = apps.get_model("inference", "ModelVersion")
    Calibration = apps.get_model("inference", "Calibration")
    model = ModelVersion.objects.filter(name=DEFAULT_MODEL["name"], version=DEFAULT_MODEL["version"]).first()
    if model is None or Calibration.objects.filter(model_version=model, is_active=True).exists():
        return
    try:
        fields = shipped_calibration_fields(
            read_default_calibration(),
            name=model.name,
            version=model.version,
            class_names=list(model.class_names),
            file_sha256=model_file_sha256(model.file_path),
        )
    except ShippedCalibrationRefused:
        return
    version = fields.pop("version")
    calibration, _created = Calibration.objects.get_or_create(model_version=model, version=version, defaults=fields)
    Calibration.objects.filter(pk=calibration.pk).update(is_active=True)


class Migration(migrations.Migration):
    dependencies = [("inference", "0005_model_card")]

    # Reversing keeps the calibration: it is data a later calibrate_model replaces, not schema.
    operations = [migrations.RunPython(install_default_calibration, migrations.RunPython.noop)]
