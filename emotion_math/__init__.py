"""The emotion math the product serves: face pixels to model input, calibration, counting at a
threshold, and the estimated share of each emotion with its bootstrap intervals.

Plain numpy, scipy and Pillow: no Django, nothing from the apps and nothing from ml/, so the
workers, the dashboard, the `calibrate_model` command and the training study (ml/) compute with the
same code (tests/test_layers.py checks that it stays so).

- `preprocessing`: face crops -> the model's input batch.
- `calibration`: fitting, checking and applying a calibration of the model's probabilities.
- `counting`: how well a model counts each emotion at a threshold (recall, precision).
- `shares`: the product's share estimator (regularised PACC) and the quantifier it needs.
- `share_bootstrap`: intervals and paired comparisons of estimated shares, over testers and
  calibration faces.
- `head_turn`: how far a face is turned from the camera, from the face detector's keypoints.
- `report`: a calibration's result as JSON-able values and as a table for the command line.
"""
