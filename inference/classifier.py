"""Load an emotion model (TFLite or Keras) once and answer batches of preprocessed faces.

Serving, evaluation (ml.evaluate) and calibration all call this, so they see the same numbers.
No Django: ml/ imports this too.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emotion_math.calibration import softmax
from emotion_math.preprocessing import preprocess_faces

# Faces per model call when many are predicted at once (labelled faces for a calibration or a report).
PREDICT_BATCH_SIZE = 64


@dataclass(frozen=True)
class ModelSpec:
    """What the registry knows about a model: enough to load it and feed it correctly."""

    file_path: Path
    framework: str  # "tflite" | "keras"
    class_names: tuple[str, ...]
    input_size: int
    color_mode: str  # "grayscale" | "rgb"
    scaling: str  # "minus_one_to_one" | "zero_to_one" | "none"
    outputs_logits: bool = False


class EmotionClassifier:
    """Not thread-safe per instance for TFLite; a lock serialises calls (a worker uses one thread).

    The TFLite interpreter stays at batch size 1 and a batch is answered one face after another:
    on one CPU thread this small CNN costs the same per face at batch 1, 4 or 16 (0.37 ms), while
    resizing the input and reallocating the tensors whenever the batch size changed cost more than
    the model itself."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self._lock = threading.Lock()
        if spec.framework == "tflite":
            from ai_edge_litert.interpreter import Interpreter

            self._interpreter = Interpreter(model_path=str(spec.file_path), num_threads=1)
            self._input_index = self._interpreter.get_input_details()[0]["index"]
            self._output_index = self._interpreter.get_output_details()[0]["index"]
            channels = 1 if spec.color_mode == "grayscale" else 3
            self._interpreter.resize_tensor_input(self._input_index, [1, spec.input_size, spec.input_size, channels])
            self._interpreter.allocate_tensors()
        elif spec.framework == "keras":
            import keras

            self._keras_model = keras.models.load_model(str(spec.file_path), compile=False)
        else:
            raise ValueError(f"Unknown model framework {spec.framework!r}; expected 'tflite' or 'keras'.")

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.spec.class_names

    def preprocess(self, faces: list[np.ndarray]) -> np.ndarray:
        return preprocess_faces(
            faces, input_size=self.spec.input_size, color_mode=self.spec.color_mode, scaling=self.spec.scaling
        )

    def predict_batch(self, batch: np.ndarray) -> np.ndarray:
        """Preprocessed float32 batch (N, size, size, C) -> probabilities (N, classes)."""
        if len(batch) == 0:
            return np.zeros((0, len(self.class_names)), np.float32)
        if self.spec.framework == "tflite":
            batch = np.ascontiguousarray(batch, dtype=np.float32)
            rows = []
            with self._lock:
                for face in batch:
                    self._interpreter.set_tensor(self._input_index, face[None])
                    self._interpreter.invoke()
                    rows.append(self._interpreter.get_tensor(self._output_index)[0])
            output = np.stack(rows)
        else:
            output = np.asarray(self._keras_model(batch, training=False))
        if self.spec.outputs_logits:
            output = softmax(output)
        return output.astype(np.float32)

    def predict_faces(self, faces: list[np.ndarray]) -> np.ndarray:
        """Raw face crops (uint8) -> probabilities (N, classes)."""
        return self.predict_batch(self.preprocess(faces))


def predict_in_batches(classifier: EmotionClassifier, faces: list[np.ndarray], *, mirror: bool = False) -> np.ndarray:
    """Probabilities (float64) per face, PREDICT_BATCH_SIZE faces at a time; with `mirror`, the mean
    of the face's and its mirror image's (test-time augmentation, which the workers do not do)."""
    batches = []
    for start in range(0, len(faces), PREDICT_BATCH_SIZE):
        batch = faces[start : start + PREDICT_BATCH_SIZE]
        probabilities = classifier.predict_faces(batch)
        if mirror:
            mirrored = [np.ascontiguousarray(face[:, ::-1]) for face in batch]
            probabilities = (probabilities + classifier.predict_faces(mirrored)) / 2
        batches.append(probabilities)
    return np.concatenate(batches).astype(np.float64)
