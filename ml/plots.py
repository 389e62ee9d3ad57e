"""Figures for training and evaluation: a PNG (matplotlib, Agg) and an offline HTML (plotly) each.

The HTML files embed plotly.js (`include_plotlyjs=True`), so they open without a network.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots


def plot_training_curves(history: dict[str, list[float]], png_path: Path, html_path: Path) -> None:
    """Accuracy and loss per epoch, training vs validation."""
    epochs = list(range(1, len(history["loss"]) + 1))
    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    for axis, metric in zip(axes, ("accuracy", "loss"), strict=True):
        axis.plot(epochs, history[metric], label=f"training {metric}")
        axis.plot(epochs, history[f"val_{metric}"], label=f"validation {metric}")
        axis.set_xlabel("epoch")
        axis.set_title(metric.capitalize())
        axis.legend()
    figure.tight_layout()
    figure.savefig(png_path, dpi=100)
    plt.close(figure)

    interactive = make_subplots(rows=1, cols=2, subplot_titles=("Accuracy", "Loss"))
    for column, metric in enumerate(("accuracy", "loss"), start=1):
        interactive.add_trace(go.Scatter(x=epochs, y=history[metric], name=f"training {metric}"), row=1, col=column)
        interactive.add_trace(
            go.Scatter(x=epochs, y=history[f"val_{metric}"], name=f"validation {metric}"), row=1, col=column
        )
        interactive.update_xaxes(title_text="epoch", row=1, col=column)
    interactive.update_layout(title="Training curves")
    interactive.write_html(html_path, include_plotlyjs=True)


def plot_confusion_matrix(matrix: np.ndarray, class_names: list[str], png_path: Path, html_path: Path) -> None:
    """Heatmap of counts; rows are the true class, columns the predicted one."""
    size = max(4.0, 0.9 * len(class_names) + 2)
    figure, axis = plt.subplots(figsize=(size, size * 0.85))
    image = axis.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axis)
    axis.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
    axis.set_yticks(range(len(class_names)), class_names)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    threshold = matrix.max() / 2 if matrix.size else 0
    for row in range(matrix.shape[0]):
        for column in range(matrix.shape[1]):
            colour = "white" if matrix[row, column] > threshold else "black"
            axis.text(column, row, str(matrix[row, column]), ha="center", va="center", color=colour)
    axis.set_title("Confusion matrix")
    figure.tight_layout()
    figure.savefig(png_path, dpi=100)
    plt.close(figure)

    interactive = go.Figure(
        go.Heatmap(z=matrix, x=class_names, y=class_names, colorscale="Blues", text=matrix, texttemplate="%{text}")
    )
    interactive.update_layout(
        title="Confusion matrix", xaxis_title="predicted", yaxis_title="true", yaxis_autorange="reversed"
    )
    interactive.write_html(html_path, include_plotlyjs=True)


def plot_reliability(bins: list[dict], ece: float, png_path: Path, html_path: Path) -> None:
    """Accuracy against mean top-class probability per bin; the diagonal is perfect calibration."""
    filled = [row for row in bins if row["count"]]
    centres = [(row["lower"] + row["upper"]) / 2 for row in filled]
    width = bins[0]["upper"] - bins[0]["lower"]
    figure, axis = plt.subplots(figsize=(5.5, 5))
    axis.bar(centres, [row["accuracy"] for row in filled], width=width * 0.95, alpha=0.7, label="accuracy")
    axis.plot([row["confidence"] for row in filled], [row["accuracy"] for row in filled], "o", label="mean confidence")
    axis.plot([0, 1], [0, 1], "k--", label="perfect calibration")
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1)
    axis.set_xlabel("top-class probability")
    axis.set_ylabel("accuracy")
    axis.set_title(f"Reliability ({len(bins)} bins), ECE = {ece:.3f}")
    axis.legend(loc="upper left")
    figure.tight_layout()
    figure.savefig(png_path, dpi=100)
    plt.close(figure)

    interactive = go.Figure()
    interactive.add_trace(
        go.Bar(
            x=centres,
            y=[row["accuracy"] for row in filled],
            width=width * 0.95,
            name="accuracy",
            customdata=[[row["count"], row["confidence"]] for row in filled],
            hovertemplate="accuracy %{y:.3f}<br>frames %{customdata[0]}<br>mean confidence %{customdata[1]:.3f}",
        )
    )
    interactive.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect calibration"))
    interactive.update_layout(
        title=f"Reliability diagram, ECE = {ece:.3f}",
        xaxis_title="top-class probability",
        yaxis_title="accuracy",
        xaxis_range=[0, 1],
        yaxis_range=[0, 1],
    )
    interactive.write_html(html_path, include_plotlyjs=True)


def plot_sample_grid(
    images: list[np.ndarray],
    true_names: list[str],
    predicted_names: list[str],
    probabilities: list[float],
    png_path: Path,
    columns: int = 6,
) -> None:
    """Thumbnails titled 'predicted (probability)', green when right and red when wrong."""
    rows = max(1, -(-len(images) // columns))
    figure, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 2.5 * rows), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, image, true_name, predicted_name, probability in zip(
        axes.flat, images, true_names, predicted_names, probabilities, strict=False
    ):
        axis.imshow(image.squeeze(), cmap="gray" if image.ndim == 2 or image.shape[-1] == 1 else None)
        colour = "green" if true_name == predicted_name else "red"
        axis.set_title(f"{predicted_name} ({probability:.2f})\ntrue: {true_name}", color=colour, fontsize=9)
    figure.tight_layout()
    figure.savefig(png_path, dpi=100)
    plt.close(figure)
