"""Train (2 epochs on synthetic faces) and evaluate through the serving classifier."""

import json
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from emotion_math.calibration import softmax
from inference.classifier import EmotionClassifier
from ml.evaluate import evaluate, load_image, load_run_spec, map_classes
from ml.train import make_model


def test_run_folder_holds_model_spec_history_and_curves(trained_run: Path):
    assert json.loads((trained_run / "class_names.json").read_text()) == ["happy", "sad"]
    spec = json.loads((trained_run / "preprocessing.json").read_text())
    assert spec == {
        "framework": "keras",
        "file": "model.keras",
        "class_names": ["happy", "sad"],
        "input_size": 32,
        "color_mode": "rgb",
        "scaling": "none",
        "outputs_logits": True,
    }
    history = json.loads((trained_run / "history.json").read_text())
    assert {"accuracy", "loss", "val_accuracy", "val_loss"} <= set(history)
    assert len(history["loss"]) == 2
    training = json.loads((trained_run / "training.json").read_text())
    assert training["batch_size"] == 16  # the study's default
    assert training["config"]["learning_rate"] == 0.001
    assert (trained_run / "training_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (trained_run / "training_curves.html").read_text()
    assert "validation accuracy" in html and "plotly.js" in html
    assert "<script src=" not in html  # plotly.js embedded: opens offline


def test_serving_sees_what_training_saw(trained_run: Path, prepared_data: Path):
    """The saved model rescales itself; the serving classifier's probabilities on raw files equal
    the softmax of the model's logits on the training pipeline's batches."""
    spec = load_run_spec(trained_run)
    classifier = EmotionClassifier(spec)
    paths = sorted((prepared_data / "test" / "happy").glob("*.png"))[:4]
    served = classifier.predict_faces([load_image(path) for path in paths])
    np.testing.assert_allclose(served.sum(axis=1), 1.0, rtol=1e-5)

    from ml.prepare import resize_image_folder

    copy = trained_run.parent / "resized"
    resize_image_folder(prepared_data / "test", copy, input_size=32, color_mode="rgb")
    dataset = keras.utils.image_dataset_from_directory(
        copy, image_size=(32, 32), batch_size=64, shuffle=False, color_mode="rgb"
    )
    images, _labels = next(iter(dataset))
    model = keras.models.load_model(trained_run / "model.keras")
    trained_view = softmax(np.asarray(model(images[:4], training=False)))
    np.testing.assert_allclose(served, trained_view, atol=1e-5)


def test_evaluation_writes_every_figure_and_beats_chance(trained_run: Path, prepared_data: Path):
    result = evaluate(str(trained_run), prepared_data)
    folder = trained_run / "evaluation"
    for name in ("confusion_matrix", "reliability"):
        assert (folder / f"{name}.png").stat().st_size > 1000
        assert "plotly" in (folder / f"{name}.html").read_text()[:200_000]
    assert (folder / "samples.png").stat().st_size > 1000
    assert result["images"] == 16
    assert sum(map(sum, result["confusion_matrix"])) == 16
    assert result["accuracy"] >= 0.75  # bright smiling vs dark frowning faces separate in 2 epochs
    assert 0.0 <= result["expected_calibration_error"] <= 1.0
    assert set(result["report"]["classes"]) == {"happy", "sad"}
    assert "precision" in (folder / "classification_report.txt").read_text()
    assert json.loads((folder / "evaluation.json").read_text())["accuracy"] == result["accuracy"]


def test_default_model_is_mapped_to_folder_classes_and_renormalised(prepared_data: Path, tmp_path: Path):
    result = evaluate("default", prepared_data, tmp_path / "default-evaluation")
    assert result["class_mapping"] == {"happy": "happy", "sad": "sad"}
    assert result["restricted_to_folder_classes"] is True
    assert "renormalised" in result["note"]
    assert "renormalised" in (tmp_path / "default-evaluation" / "classification_report.txt").read_text()


def test_folder_names_map_case_insensitively_with_aliases():
    model_classes = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    assert map_classes(["Happy", "Sad", "Surprised", "Angry", "Neutral"], model_classes) == [3, 4, 5, 0, 6]
    with pytest.raises(SystemExit, match="contempt"):
        map_classes(["happy", "contempt"], model_classes)


def test_mobilenet_v2_outputs_probabilities_and_loads_local_weights(tmp_path: Path):
    backbone = keras.applications.MobileNetV2(input_shape=(32, 32, 3), include_top=False, weights=None)
    weights_path = tmp_path / "mobilenet_v2_no_top.weights.h5"
    backbone.save_weights(weights_path)
    model = make_model((32, 32, 1), 3, "mobilenet_v2", imagenet_weights=weights_path)
    loaded = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    assert loaded.trainable is False  # frozen first, fine-tuned only on request
    np.testing.assert_array_equal(loaded.get_weights()[0], backbone.get_weights()[0])
    probabilities = np.asarray(model(np.full((2, 32, 32, 1), 128.0, np.float32)))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_small_cnn_is_the_studys_architecture():
    model = make_model((32, 32, 3), 2)
    kinds = [layer.__class__.__name__ for layer in model.layers]
    assert kinds == [
        "InputLayer",
        "Rescaling",
        "Conv2D",
        "MaxPooling2D",
        "Conv2D",
        "MaxPooling2D",
        "Conv2D",
        "MaxPooling2D",
        "Dropout",
        "Flatten",
        "Dense",
        "Dense",
    ]
    assert model.layers[-1].activation.__name__ == "linear"  # logits
    assert [layer.filters for layer in model.layers if hasattr(layer, "filters")] == [16, 32, 64]


def test_batch_size_sweep_trains_one_model_per_size_and_ranks_them(prepared_data: Path, tmp_path: Path):
    from ml.train import main as train_main

    arguments = [str(prepared_data), "--run-dir", str(tmp_path / "sweep"), "--epochs", "1", "--input-size", "16"]
    train_main([*arguments, "--color-mode", "grayscale", "--batch-size", "8", "32", "--quiet"])
    sweep = json.loads((tmp_path / "sweep" / "sweep.json").read_text())
    assert sorted(row["batch_size"] for row in sweep) == [8, 32]
    assert sweep[0]["validation_loss"] <= sweep[1]["validation_loss"]
    for size in (8, 32):
        spec = json.loads((tmp_path / "sweep" / f"batch-{size}" / "preprocessing.json").read_text())
        assert (spec["input_size"], spec["color_mode"]) == (16, "grayscale")
        assert (tmp_path / "sweep" / f"batch-{size}" / "model.keras").is_file()


def test_small_cnn_bn_is_wider_with_batch_normalisation_and_outputs_logits():
    model = make_model((48, 48, 1), 5, "small_cnn_bn")
    kinds = [layer.__class__.__name__ for layer in model.layers]
    assert kinds.count("BatchNormalization") == 7  # six convolutions and the dense layer
    assert [layer.filters for layer in model.layers if hasattr(layer, "filters")] == [32, 32, 64, 64, 128, 128]
    assert model.layers[-1].activation.__name__ == "linear"  # logits, like the study's CNN
    assert model.output_shape == (None, 5)


def test_same_seed_trains_the_same_model_and_small_cnn_bn_serves_as_logits(prepared_data: Path, tmp_path: Path):
    """Augmentation on, two runs with one seed: identical histories (the study compares seeds, so a
    seed must mean one model), and the run's spec tells serving to apply the softmax."""
    from ml.train import main as train_main

    histories = []
    for name in ("first", "second"):
        run_dir = tmp_path / name
        train_main(
            [
                str(prepared_data),
                "--run-dir",
                str(run_dir),
                "--model",
                "small_cnn_bn",
                "--epochs",
                "2",
                "--input-size",
                "24",
                "--color-mode",
                "grayscale",
                "--quiet",
            ]
        )
        histories.append(json.loads((run_dir / "history.json").read_text()))
    assert histories[0]["loss"] == histories[1]["loss"]
    assert histories[0]["val_loss"] == histories[1]["val_loss"]
    spec = json.loads((tmp_path / "first" / "preprocessing.json").read_text())
    assert spec["outputs_logits"] is True
    served = EmotionClassifier(load_run_spec(tmp_path / "first")).predict_faces(
        [load_image(sorted((prepared_data / "test" / "sad").glob("*.png"))[0])]
    )
    np.testing.assert_allclose(served.sum(axis=1), 1.0, rtol=1e-5)


def test_time_budget_stops_after_the_epoch_that_passes_it_and_keeps_the_best_model(prepared_data: Path, tmp_path: Path):
    from ml.train import main as train_main

    run_dir = tmp_path / "budget"
    # A budget of ~0: the first epoch ends past it, so one epoch of the ten runs.
    train_main(
        [str(prepared_data), "--run-dir", str(run_dir), "--epochs", "10", "--input-size", "16", "--max-minutes", "1e-4"]
    )
    training = json.loads((run_dir / "training.json").read_text())
    assert training["epochs_run"] == 1
    assert training["stopped_by_time_budget"] is True
    assert training["config"]["max_minutes"] == 1e-4
    assert (run_dir / "model.keras").is_file()
    assert EmotionClassifier(load_run_spec(run_dir)).predict_faces(
        [load_image(sorted((prepared_data / "test" / "happy").glob("*.png"))[0])]
    ).shape == (1, 2)


def test_the_saved_model_keeps_weights_but_not_the_optimizer_state(trained_run: Path):
    # Adam's slots would triple the file that ml.register measures against its 5 MB limit.
    import io
    import zipfile

    import h5py

    with zipfile.ZipFile(trained_run / "model.keras") as archive:
        weights = h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r")
        stored = set(weights.keys())
    assert "layers" in stored and "optimizer" not in stored


def test_validation_dir_replaces_the_split_and_is_what_the_best_model_is_judged_on(prepared_data: Path, tmp_path: Path):
    """With --validation-dir every train/ image trains, and the saved figures are on the given faces:
    the validation accuracy equals ml.evaluate's accuracy on that folder through the serving code."""
    from ml.train import main as train_main

    run_dir = tmp_path / "explicit-validation"
    validation_dir = prepared_data / "test"
    train_main(
        [
            str(prepared_data),
            "--run-dir",
            str(run_dir),
            "--epochs",
            "2",
            "--input-size",
            "16",
            "--validation-dir",
            str(validation_dir),
            "--quiet",
        ]
    )
    training = json.loads((run_dir / "training.json").read_text())
    assert training["validation_faces"] == str(validation_dir.resolve())
    result = evaluate(str(run_dir), validation_dir, tmp_path / "evaluation")
    assert result["accuracy"] == pytest.approx(training["validation_accuracy"], abs=1e-6)


def test_validation_dir_with_other_classes_is_refused(prepared_data: Path, tmp_path: Path):
    from ml.train import main as train_main

    other = tmp_path / "other-classes"
    (other / "angry").mkdir(parents=True)
    for path in sorted((prepared_data / "test" / "happy").glob("*.png"))[:2]:
        (other / "angry" / path.name).write_bytes(path.read_bytes())
    with pytest.raises(SystemExit, match="classes"):
        train_main(
            [
                str(prepared_data),
                "--run-dir",
                str(tmp_path / "run"),
                "--epochs",
                "1",
                "--input-size",
                "16",
                "--validation-dir",
                str(other),
                "--quiet",
            ]
        )


def test_webcam_degradation_is_seeded_per_batch_and_keeps_serving_pixels():
    from ml.train import webcam_degradation

    generator = np.random.default_rng(0)
    images = tf.constant(generator.uniform(0, 255, (8, 24, 24, 1)), tf.float32)
    first = webcam_degradation(images, tf.constant(7, tf.int64)).numpy()
    again = webcam_degradation(images, tf.constant(7, tf.int64)).numpy()
    other = webcam_degradation(images, tf.constant(8, tf.int64)).numpy()
    assert first.shape == images.shape
    assert first.min() >= 0.0 and first.max() <= 255.0  # raw pixels, as serving feeds the model
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)
    assert not np.allclose(first, images.numpy())
    # Each face of a batch gets its own strengths: the per-image change in mean brightness differs.
    shifts = (first - images.numpy()).mean(axis=(1, 2, 3))
    assert np.ptp(shifts) > 1.0


def test_webcam_augmentation_trains_the_same_model_for_the_same_seed(prepared_data: Path, tmp_path: Path):
    from ml.train import main as train_main

    histories = []
    for name in ("first", "second"):
        run_dir = tmp_path / name
        train_main(
            [
                str(prepared_data),
                "--run-dir",
                str(run_dir),
                "--epochs",
                "1",
                "--input-size",
                "16",
                "--augmentation",
                "webcam",
                "--color-mode",
                "grayscale",
                "--quiet",
            ]
        )
        histories.append(json.loads((run_dir / "history.json").read_text()))
    assert histories[0]["loss"] == histories[1]["loss"]
    assert json.loads((tmp_path / "first" / "training.json").read_text())["config"]["augmentation"] == "webcam"


def test_cosine_decay_brings_the_learning_rate_to_zero_over_the_epochs():
    from ml.train import compile_model

    images = np.random.default_rng(0).uniform(0, 255, (16, 16, 16, 1)).astype(np.float32)
    labels = np.arange(16) % 2
    decayed, constant = make_model((16, 16, 1), 2), make_model((16, 16, 1), 2)
    compile_model(decayed, 0.001, outputs_logits=True, decay_steps=4)  # 2 epochs of 2 batches
    compile_model(constant, 0.001, outputs_logits=True)
    for model in (decayed, constant):
        model.fit(images, labels, batch_size=8, epochs=2, verbose=0)
    assert float(decayed.optimizer.learning_rate) == pytest.approx(0.0, abs=1e-9)
    assert float(constant.optimizer.learning_rate) == pytest.approx(0.001)
