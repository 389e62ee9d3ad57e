import hashlib
import json
from pathlib import Path

import numpy as np
from PIL import Image

from emotion_math.preprocessing import preprocess_faces
from ml.prepare import PrepareConfig, prepare
from ml.tests.synthetic import make_image_folder


def _raw_folder_with_rejects(root: Path) -> Path:
    make_image_folder(root, per_class=20, min_size=50, max_size=80)
    Image.new("RGB", (60, 60), "white").save(root / "Happy" / "bitmap.bmp")
    (root / "Happy" / "broken.jpg").write_bytes(b"not a jpeg at all")
    (root / "Happy" / "notes.txt").write_text("not an image")
    Image.new("RGB", (20, 60), "white").save(root / "Sad" / "too-narrow.png")
    Image.new("RGB", (200, 200), "white").save(root / "Sad" / "too-large.png")
    return root


def test_prepare_filters_samples_splits_and_writes_a_manifest(tmp_path):
    raw = _raw_folder_with_rejects(tmp_path / "raw")
    config = PrepareConfig(source=raw, output=tmp_path / "out", min_side=40, max_side=100, per_class=15)
    manifest = prepare(config)

    assert manifest["class_names"] == ["happy", "sad"]
    happy, sad = manifest["counts"]["happy"], manifest["counts"]["sad"]
    assert happy["found"] == 23
    assert happy["dropped"] == {"unsupported_format": 2, "unreadable": 1, "not_sampled": 5}
    assert sad["dropped"] == {"size_out_of_bounds": 2, "not_sampled": 5}
    assert (happy["train"], happy["test"]) == (12, 3)  # 80/20 of 15
    for subset, count in (("train", 12), ("test", 3)):
        assert len(list((tmp_path / "out" / subset / "sad").glob("*.png"))) == count

    on_disk = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert len(on_disk["files"]) == 30
    for entry in on_disk["files"]:
        written = tmp_path / "out" / entry["path"]
        assert hashlib.sha256(written.read_bytes()).hexdigest() == entry["sha256"]
        assert hashlib.sha256((raw / entry["source"]).read_bytes()).hexdigest() == entry["source_sha256"]
        assert entry["subset"] in entry["path"]


def test_same_seed_same_split_other_seed_other_split(tmp_path):
    raw = make_image_folder(tmp_path / "raw", per_class=20)

    def split(output: str, seed: int) -> list[tuple[str, str]]:
        config = PrepareConfig(source=raw, output=tmp_path / output, min_side=40, max_side=100, per_class=10, seed=seed)
        return sorted((entry["source"], entry["subset"]) for entry in prepare(config)["files"])

    assert split("first", 1) == split("second", 1)
    assert split("first", 1) != split("third", 2)


def test_image_size_writes_exactly_what_serving_would_feed(tmp_path):
    raw = make_image_folder(tmp_path / "raw", per_class=4)
    config = PrepareConfig(
        source=raw, output=tmp_path / "out", min_side=40, max_side=100, image_size=24, color_mode="grayscale"
    )
    manifest = prepare(config)
    entry = manifest["files"][0]
    written = np.asarray(Image.open(tmp_path / "out" / entry["path"]))
    assert written.shape == (24, 24)
    original = np.asarray(Image.open(raw / entry["source"]).convert("RGB"))
    served = preprocess_faces([original], input_size=24, color_mode="grayscale", scaling="none")[0, :, :, 0]
    assert np.array_equal(written, served.astype(np.uint8))


def test_crop_faces_keeps_the_face_the_workers_detector_finds(tmp_path):
    from inference.sample_frames import face_frame, no_face_frames

    for emotion in ("happy", "sad"):
        (tmp_path / "raw" / emotion).mkdir(parents=True)
        Image.fromarray(face_frame(face_px=160)).save(tmp_path / "raw" / emotion / "face.jpg")
        Image.fromarray(no_face_frames()[0]).save(tmp_path / "raw" / emotion / "empty.jpg")
    config = PrepareConfig(
        source=tmp_path / "raw", output=tmp_path / "out", min_side=100, max_side=800, crop_faces=True
    )
    manifest = prepare(config)
    assert manifest["counts"]["happy"]["kept"] == 1
    assert manifest["counts"]["happy"]["dropped"] == {"no_face": 1}
    crop = Image.open(tmp_path / "out" / manifest["files"][0]["path"])
    assert 100 <= crop.width <= 300 and 100 <= crop.height <= 300  # a ~160 px face with margin, not the frame
