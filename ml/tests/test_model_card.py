"""A model registered from training comes with a model card naming its training data and
that data's licence status, is at most 5 MB, and researchers can read the card from the dashboard."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from campaigns.models import Membership, Organisation
from inference.models import ModelVersion
from ml.evaluate import main as evaluate_main
from ml.register import main as register_main

LICENCE = "- Licence: Generated cartoon faces; CC0, no person's\n  likeness is shown.\n- Cleaned: nothing to clean.\n"


def copy_run(trained_run: Path, destination: Path, data_dir: Path | None = None) -> Path:
    """A copy of the shared trained run (which other tests register too), optionally trained on `data_dir`."""
    run_dir = shutil.copytree(trained_run, destination, ignore=shutil.ignore_patterns("evaluation", "MODEL_CARD.md"))
    if data_dir is not None:
        training = json.loads((run_dir / "training.json").read_text())
        training["config"]["data_dir"] = str(data_dir)
        training["dataset_manifest"] = str(data_dir / "manifest.json")
        (run_dir / "training.json").write_text(json.dumps(training))
    return run_dir


@pytest.mark.django_db
def test_registration_writes_and_stores_a_card_with_the_licence_from_sources_md(
    trained_run: Path, prepared_data: Path, tmp_path: Path
):
    # A dataset folder whose parent documents its licence, as /work/shared/data/faces does.
    dataset = shutil.copytree(prepared_data, tmp_path / "faces" / "prepared")
    (tmp_path / "faces" / "SOURCES.md").write_text("# Generated faces\n\n" + LICENCE)
    run_dir = copy_run(trained_run, tmp_path / "run", data_dir=dataset)
    evaluate_main([str(run_dir), str(dataset)])

    register_main([str(run_dir), "--name", "card-test", "--version", "v1"])

    model_version = ModelVersion.objects.get(name="card-test", version="v1")
    card = (run_dir / "MODEL_CARD.md").read_text()
    assert model_version.model_card == card
    assert card.startswith("# Model card: card-test v1\n")
    assert "Licence status: Generated cartoon faces; CC0, no person's likeness is shown." in card
    assert "Cleaned" not in card  # the next item of SOURCES.md is not part of the licence
    assert str(tmp_path / "faces" / "SOURCES.md") in card
    assert f"Dataset folder: {dataset}" in card
    manifest = json.loads((dataset / "manifest.json").read_text())
    for class_name, counts in manifest["counts"].items():
        assert f"| {class_name} | {counts['train']} | {counts['test']} |" in card
    assert "Size: 32 x 32 pixels" in card and "Colour mode: rgb" in card
    assert "In output order: happy, sad" in card
    assert "Epochs run: 2 of at most 2" in card and "Batch size: 16" in card
    assert "Early stopping: on validation loss, patience 5" in card and "horizontal flip" in card
    evaluation = json.loads((run_dir / "evaluation" / "evaluation.json").read_text())
    assert f"Accuracy: {evaluation['accuracy']:.3f}" in card
    assert f"Expected calibration error: {evaluation['expected_calibration_error']:.3f}" in card
    happy = evaluation["report"]["classes"]["happy"]
    assert f"| happy | {happy['precision']:.3f} | {happy['recall']:.3f} | {happy['support']} |" in card
    model_bytes = (run_dir / "model.keras").read_bytes()
    assert f"SHA-256: {hashlib.sha256(model_bytes).hexdigest()}" in card
    assert model_version.sha256 == hashlib.sha256(model_bytes).hexdigest()
    assert f"{len(model_bytes)} bytes" in card
    assert "consenting testers in ad tests" in card
    assert "Not for decisions about individuals" in card
    assert "demographic coverage" in card


@pytest.mark.django_db
def test_registration_is_refused_when_no_licence_source_exists(trained_run: Path, tmp_path: Path):
    # The shared run was trained on a generated folder in pytest's temporary tree: no SOURCES.md.
    run_dir = copy_run(trained_run, tmp_path / "run")

    with pytest.raises(SystemExit) as refusal:
        register_main([str(run_dir), "--name", "no-licence", "--version", "v1"])

    assert "licence status is unknown" in str(refusal.value)
    assert "--training-data-licence" in str(refusal.value)
    assert not ModelVersion.objects.filter(name="no-licence").exists()
    assert not (run_dir / "MODEL_CARD.md").exists()


@pytest.mark.django_db
def test_a_licence_given_on_the_command_line_is_enough(trained_run: Path, tmp_path: Path):
    run_dir = copy_run(trained_run, tmp_path / "run")

    register_main([str(run_dir), "--name", "given", "--version", "v1", "--training-data-licence", "CC BY 4.0"])

    card = ModelVersion.objects.get(name="given").model_card
    assert "Licence status: CC BY 4.0" in card
    assert "given at registration (--training-data-licence)" in card
    assert "Not evaluated: run `python -m ml.evaluate" in card


@pytest.mark.django_db
def test_an_oversized_model_file_is_refused_unless_the_limit_is_raised(trained_run: Path, tmp_path: Path):
    licence = ["--training-data-licence", "CC0"]
    run_dir = copy_run(trained_run, tmp_path / "run")
    with pytest.raises(SystemExit) as refusal:
        register_main([str(run_dir), "--name", "small", "--version", "v1", "--max-model-mb", "0.001", *licence])
    assert "over the 0.001 MB limit" in str(refusal.value)
    assert "--max-model-mb" in str(refusal.value)

    # The default limit is 5 MB: a 5.1 MB file is refused before it is even loaded.
    big_run = copy_run(trained_run, tmp_path / "big-run")
    (big_run / "model.keras").write_bytes(b"\0" * 5_100_000)
    with pytest.raises(SystemExit) as refusal:
        register_main([str(big_run), "--name", "big", "--version", "v1", *licence])
    assert "is 5.10 MB, over the 5 MB limit" in str(refusal.value)
    assert not ModelVersion.objects.filter(name__in=["small", "big"]).exists()

    register_main([str(run_dir), "--name", "small", "--version", "v1", "--max-model-mb", "10", *licence])
    assert ModelVersion.objects.filter(name="small").exists()


@pytest.mark.django_db
def test_a_researcher_reads_the_card_escaped_and_an_anonymous_visitor_is_sent_to_log_in(client):
    model_version = ModelVersion.objects.create(
        name="card-page",
        version="v1",
        file_path="/nowhere/model.keras",
        framework="keras",
        class_names=["happy", "sad"],
        input_size=32,
        color_mode="rgb",
        scaling="none",
        model_card="# Model card: card-page v1\n\n- Licence status: <script>alert(1)</script> unknown\n",
    )
    url = reverse("dashboard:model-card", kwargs={"model_version_id": model_version.pk})

    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))

    # Models are global: a researcher of any organisation may read any card.
    researcher = get_user_model().objects.create_user(username="reader", password="pw-for-tests-only")
    Membership.objects.create(user=researcher, organisation=Organisation.objects.create(name="Any Lab"))
    client.force_login(researcher)
    html = client.get(url).content.decode()
    assert "# Model card: card-page v1" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; unknown" in html
    assert "<script>alert(1)" not in html
    assert "<script>" not in html  # no inline script under the CSP

    german = client.get(url, HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Modellkarte: card-page v1" in german

    missing = reverse("dashboard:model-card", kwargs={"model_version_id": model_version.pk + 1000})
    assert client.get(missing).status_code == 404


def test_the_card_names_webcam_augmentation_and_explicit_validation_faces(trained_run: Path, tmp_path: Path):
    from ml.model_card import build_model_card

    run_dir = tmp_path / "webcam-run"
    shutil.copytree(trained_run, run_dir)
    training = json.loads((run_dir / "training.json").read_text())
    training["config"]["augmentation"] = "webcam"
    training["validation_faces"] = "/data/faces/calibration"
    (run_dir / "training.json").write_text(json.dumps(training))
    card = build_model_card(run_dir, name="webcam", version="v1", training_data_licence_text="CC0")
    assert "JPEG (quality 30-95)" in card and "rotation up to 0.04 turn" in card
    assert "Validation: the faces in /data/faces/calibration" in card
    assert "% of the training images" not in card
