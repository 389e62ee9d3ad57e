"""A generated known-truth world for tests: a tiny emotion "model" with fixed weights that reads a
shading cue drawn into the smiling astronaut's face (public domain, inference.sample_frames).

The cue, per emotion (drawn onto the 640x480 frame around the face, so the workers' detector,
gates and crop see it like any face):
- happy: the lower half of the face brightened by CUE_RANGE["happy"] of full scale (strong cue),
- sad: the lower half darkened, but only weakly (CUE_RANGE["sad"] starts at 0, so some sad
  faces look exactly neutral: no model or calibration can be sure of them),
- surprise: the left half darkened,
- neutral: nothing drawn.

The model (grayscale, 16x16, raw 0-255 input) averages the four quadrants of the face crop and
turns two contrasts into soft probabilities with fixed weights:
    dv = lower half - upper half,  dh = right half - left half  (0-1 grey scale)
    logit happy = GAIN_HAPPY (dv - CENTRE_HAPPY);  logit sad = GAIN_SAD (CENTRE_SAD - dv)
    logit surprise = GAIN_SURPRISE (dh - CENTRE_SURPRISE);  logit neutral = 0
CENTRE_* sit where a faint cue begins (the undrawn face measures dv ~ 0.13, dh ~ -0.03 through
the workers' crop), so the model is imperfect in a known way: weak sad cues come out as neutral
or as soft "sad" well under 0.8, while strong happy cues are confidently happy. Counting at a
threshold therefore misses far more sad faces than happy ones; a label-shift estimator fitted on
labelled faces from the same generator is unbiased for all of them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from inference.sample_frames import FRAME_HEIGHT, FRAME_WIDTH, encode_jpeg, expected_face_box, face_frame

CLASS_NAMES = ("happy", "sad", "neutral", "surprise")
INPUT_SIZE = 16
CUE_RANGE = {"happy": (0.12, 0.30), "sad": (0.0, 0.20), "surprise": (0.06, 0.25), "neutral": (0.0, 0.0)}
GAIN_HAPPY, CENTRE_HAPPY = 60.0, 0.16
GAIN_SAD, CENTRE_SAD = 30.0, 0.09
GAIN_SURPRISE, CENTRE_SURPRISE = 50.0, 0.03
# The generated campaign's shares per variant: A is the happier poster, B the sadder one.
VARIANT_SHARES = {
    "A": {"happy": 0.50, "sad": 0.10, "neutral": 0.30, "surprise": 0.10},
    "B": {"happy": 0.15, "sad": 0.40, "neutral": 0.30, "surprise": 0.15},
}
FACE_PX = (130, 200)
BRIGHTNESS = (0.85, 1.15)


def build_cue_model(path: Path) -> Path:
    """Save the fixed-weight Keras model to `path` (a .keras file); outputs probabilities."""
    import keras

    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 1))
    scaled = keras.layers.Rescaling(1 / 255)(inputs)
    # 2x2 grid of quadrant means, flattened as top-left, top-right, bottom-left, bottom-right.
    quadrants = keras.layers.Flatten()(keras.layers.AveragePooling2D(pool_size=INPUT_SIZE // 2)(scaled))
    dense = keras.layers.Dense(len(CLASS_NAMES))
    outputs = keras.layers.Softmax()(dense(quadrants))
    model = keras.Model(inputs, outputs)
    lower_minus_upper = np.array([-0.5, -0.5, 0.5, 0.5])
    right_minus_left = np.array([-0.5, 0.5, -0.5, 0.5])
    weights = np.zeros((4, len(CLASS_NAMES)), np.float32)
    biases = np.zeros(len(CLASS_NAMES), np.float32)
    weights[:, CLASS_NAMES.index("happy")] = GAIN_HAPPY * lower_minus_upper
    biases[CLASS_NAMES.index("happy")] = -GAIN_HAPPY * CENTRE_HAPPY
    weights[:, CLASS_NAMES.index("sad")] = -GAIN_SAD * lower_minus_upper
    biases[CLASS_NAMES.index("sad")] = GAIN_SAD * CENTRE_SAD
    weights[:, CLASS_NAMES.index("surprise")] = GAIN_SURPRISE * right_minus_left
    biases[CLASS_NAMES.index("surprise")] = -GAIN_SURPRISE * CENTRE_SURPRISE
    dense.set_weights([weights, biases])
    model.save(path)
    return path


def cue_frame(label: str, random: np.random.Generator) -> np.ndarray:
    """A 640x480 RGB webcam-like frame of the astronaut showing `label`'s cue at a random strength,
    size, place and brightness."""
    face_px = int(random.integers(*FACE_PX))
    half = face_px // 2 + 60  # room for the head around the face
    center = (int(random.integers(half, FRAME_WIDTH - half)), int(random.integers(half, FRAME_HEIGHT - half)))
    frame = face_frame(
        face_px=face_px, center=center, brightness=float(random.uniform(*BRIGHTNESS)), seed=int(random.integers(5))
    ).astype(np.float32)
    strength = float(random.uniform(*CUE_RANGE[label])) * 255
    x, y, width, height = expected_face_box(face_px=face_px, center=center)
    left, right = x - width // 8, x + width + width // 8
    top, middle, bottom = y - height // 8, y + height // 2, y + height + height // 8
    if label == "happy":
        frame[middle:bottom, left:right] += strength
    elif label == "sad":
        frame[middle:bottom, left:right] -= strength
    elif label == "surprise":
        frame[top:bottom, left : (left + right) // 2] -= strength
    return np.clip(frame, 0, 255).astype(np.uint8)


def cue_jpeg(label: str, random: np.random.Generator) -> bytes:
    return encode_jpeg(cue_frame(label, random), quality=85)


def write_labelled_crops(folder: Path, *, per_class: int, seed: int) -> dict[str, int]:
    """`folder/<emotion>/*.png`: the workers' own face crops (decode, detector, gates, crop) of
    generated frames, the labelled folder the calibration command reads. Returns crops per class."""
    from PIL import Image

    from tests.known_truth.frames import worker_crop

    random = np.random.default_rng(seed)
    written = {}
    for label in CLASS_NAMES:
        (folder / label).mkdir(parents=True, exist_ok=True)
        written[label] = 0
        for number in range(per_class):
            outcome, crop = worker_crop(cue_jpeg(label, random), input_size=INPUT_SIZE)
            if crop is not None:
                Image.fromarray(crop).save(folder / label / f"{number:04d}.png")
                written[label] += 1
    return written
