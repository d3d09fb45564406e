"""Figures of the study, for the notebooks and the report.

Each function returns a matplotlib `Figure` with a title, axis labels with
units and a legend where lines or colours need one; notebooks show it, the
report saves it with `save`. Spectrograms are drawn from scaled features, in
dB on one colour scale per figure, so panels compare.
"""

from __future__ import annotations

import io
import itertools
import textwrap
from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from PIL import Image

from .metrics import COLLAPSE_RATIO
from .representations import Representation
from .storage import atomic_write

DB_RANGE = 80.0  # spectrograms show the loudest 80 dB of a figure
DIGIT_COLOURS = plt.get_cmap("tab10")


def save(figure: Figure, path: str | Path, dpi: int = 100) -> Path:
    """Write `figure` as a 256-colour PNG (atomically) and close it.

    A palette of 256 colours keeps spectrogram grids a third of their full-colour
    size, with no visible change, so the committed report stays small.
    """
    path = Path(path)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(figure)
    with atomic_write(path) as file:
        Image.open(buffer).convert("RGB").quantize(256).save(file, format="png", optimize=True)
    return path


def decibels(analysis: Representation, features: np.ndarray) -> np.ndarray:
    """Scaled `[..., freq, frame]` features to STFT magnitudes in dB."""
    return 20 * np.log10(np.maximum(analysis.magnitude(features), 1e-10))


def spectrogram_grid(features: np.ndarray, analysis: Representation, title: str,
                     column_titles: Sequence[str] | None = None,
                     row_titles: Sequence[str] | None = None, panel_size: float = 1.5) -> Figure:
    """`[row, column, freq, frame]` scaled features as a grid of spectrograms, read by
    `analysis`: a fitted representation (its STFT and log-magnitude scaling), usually a
    feature set's `Featurizer.representation`.

    Time runs along each panel in seconds, frequency up it in kHz; the colour
    bar gives dB.
    """
    rows, columns = features.shape[:2]
    config = analysis.settings
    db = decibels(analysis, features)
    top = float(db.max())
    extent = (0, config.n_frames * config.hop_length / config.sample_rate,
              0, config.sample_rate / 2000)
    figure, axes = plt.subplots(rows, columns, figsize=(panel_size * columns + 1.2,
                                                        panel_size * 0.8 * rows + 0.9),
                                squeeze=False, sharex=True, sharey=True, layout="constrained")
    for row in range(rows):
        for column in range(columns):
            ax = axes[row, column]
            image = ax.imshow(db[row, column], origin="lower", aspect="auto", extent=extent,
                              cmap="magma", vmin=top - DB_RANGE, vmax=top)
            if row == 0 and column_titles is not None:
                ax.set_title(column_titles[column])
            if column == 0:
                label = "kHz" if row_titles is None else \
                    f"{textwrap.fill(row_titles[row], 16)}\nkHz"
                ax.set_ylabel(label)
            if row == rows - 1:
                ax.set_xlabel("s")
    figure.colorbar(image, ax=axes, label="magnitude (dB)", shrink=min(1.0, 3 / rows + 0.2))
    figure.suptitle(title)
    return figure


def digit_columns(features: np.ndarray, digits: np.ndarray, rows: int, seed: int = 0) -> np.ndarray:
    """`[row, digit, freq, frame]`: `rows` clips of each digit 0-9 drawn at random (seeded)
    from `[clip, freq, frame]` features, one column per digit."""
    rng = np.random.default_rng(seed)
    picked = []
    for digit in range(10):
        candidates = np.flatnonzero(digits == digit)
        if len(candidates) < rows:
            raise ValueError(f"digit {digit} has {len(candidates)} clips, fewer than the {rows} "
                             "asked for")
        picked.append(features[np.sort(rng.choice(candidates, rows, replace=False))])
    return np.stack(picked, axis=1)


def clip_lengths(durations: np.ndarray, is_test: np.ndarray, clip_seconds: float) -> Figure:
    """Histogram of `[clip]` durations in seconds per split, with the fixed clip length."""
    figure, ax = plt.subplots(figsize=(7, 3.5), layout="constrained")
    bins = np.linspace(0, float(durations.max()) * 1.02, 40)
    ax.hist([durations[~is_test], durations[is_test]], bins=bins, stacked=True,
            label=["train", "test"])
    ax.axvline(clip_seconds, color="black", linestyle="--",
               label=f"clip length {clip_seconds:.2f} s")
    cut = float((durations > clip_seconds).mean())
    ax.set(title=f"Clip durations ({cut:.1%} longer than the clip length are cut)",
           xlabel="duration (s)", ylabel="clips")
    ax.legend()
    return figure


def clips_per_speaker(speakers: np.ndarray, is_test: np.ndarray) -> Figure:
    """Stacked bars of training and test clips per speaker."""
    counts = pd.crosstab(speakers, np.where(is_test, "test", "train"))[["train", "test"]]
    figure, ax = plt.subplots(figsize=(7, 3), layout="constrained")
    counts.plot.barh(stacked=True, ax=ax)
    ax.set(title="Clips per speaker", xlabel="clips", ylabel="speaker")
    ax.legend(title="split")
    return figure


def loss_curves(histories: pd.DataFrame) -> Figure:
    """Training and validation reconstruction error per epoch of every run
    (`runs.histories`), log scale: the squared error summed over a clip's bins, which
    compares across decoder likelihoods (a sigma-VAE's own loss goes below zero)."""
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.2), sharey=True, layout="constrained")
    for ax, column, split in zip(axes, ("reconstruction", "val_reconstruction"),
                                 ("training", "validation")):
        for label, history in histories.groupby("label", sort=False):
            ax.plot(history["epochs"], history[column], label=label)
        ax.set(title=f"{split.capitalize()} reconstruction error", xlabel="epoch", yscale="log")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("squared error per clip (log scale)")
    axes[1].legend(title="run")
    figure.suptitle("Reconstruction error curves")
    return figure


def gan_loss_curves(histories: pd.DataFrame) -> Figure:
    """Per epoch of every GAN run (`runs.histories`): the critic's loss and the Wasserstein
    estimate (training solid, validation dashed, one colour per run), and the spreads of
    generated clips relative to real ones, within a digit (solid) and between digits
    (dotted), with the collapse warning's line."""
    figure, axes = plt.subplots(1, 3, figsize=(16, 4.2), layout="constrained")
    colours = itertools.cycle(plt.rcParams["axes.prop_cycle"].by_key()["color"])
    for (label, history), colour in zip(histories.groupby("label", sort=False), colours):
        for ax, column in zip(axes, ("critic_loss", "wasserstein")):
            ax.plot(history["epochs"], history[column], color=colour, label=label)
            ax.plot(history["epochs"], history[f"val_{column}"], color=colour, linestyle="--")
        axes[2].plot(history["epochs"], history["spread"], color=colour)
        axes[2].plot(history["epochs"], history["digit_spread"], color=colour, linestyle=":")
    axes[2].axhline(COLLAPSE_RATIO, color="black", linestyle="-.", label="collapse warning")
    for ax, title in zip(axes, ("critic loss", "Wasserstein estimate",
                                "spread within a digit (solid) and between digits (dotted), "
                                "generated / real")):
        ax.set(title=textwrap.fill(title, 45), xlabel="epoch")
        ax.grid(True, alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    handles_, labels_ = axes[2].get_legend_handles_labels()
    figure.legend(handles + handles_, labels + labels_, loc="outside lower center", ncols=2,
                  fontsize="small")
    figure.suptitle("GAN losses and spread (training solid, validation dashed)")
    return figure


def training_time(summaries: pd.DataFrame) -> Figure:
    """Median seconds per epoch and total seconds to the last checkpoint of every run
    (`runs.collect_summaries`)."""
    last = summaries.sort_values("epochs").groupby("run").tail(1).sort_values("seconds_per_epoch")
    figure, axes = plt.subplots(1, 2, figsize=(12, 0.45 * len(last) + 1.6), sharey=True,
                                layout="constrained")
    epochs = ", ".join(map(str, sorted(set(last["epochs"]))))
    for ax, column, title in ((axes[0], "seconds_per_epoch", "Median time per epoch"),
                              (axes[1], "seconds", f"Total training time ({epochs} epochs)")):
        bars = ax.barh(last["label"], last[column], color="tab:blue")
        ax.bar_label(bars, fmt="%.1f", padding=3)
        ax.set(title=title, xlabel="seconds (wall clock)")
        ax.margins(x=0.15)
    figure.suptitle("Training time")
    return figure


def metrics_by_epochs(table: pd.DataFrame, metrics: dict[str, str], title: str,
                      references: pd.DataFrame | None = None) -> Figure:
    """One panel per metric (`{column: axis label}`) against the checkpoint's epoch
    count, a line per run (`label`); rows of `references` (`run`, metric columns) are
    drawn as dashed horizontal lines."""
    figure, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.8), squeeze=False,
                                layout="constrained")
    for ax, (column, axis_label) in zip(axes[0], metrics.items()):
        for label, rows in table.groupby("label", sort=False):
            ax.plot(rows["epochs"], rows[column], marker="o", label=label)
        for (_, reference), style in zip(() if references is None else references.iterrows(),
                                         ("--", ":", "-.")):
            if pd.notna(reference.get(column)):
                ax.axhline(reference[column], color="black", linestyle=style, label=reference["run"])
        ax.set(xlabel="epochs trained", ylabel=axis_label, title=axis_label)
        ax.set_xticks(sorted(table["epochs"].unique()))
        ax.grid(True, alpha=0.3)
    handles, labels = axes[0, -1].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside right center", fontsize="small")
    figure.suptitle(title)
    return figure


def reconstructions_against_samples(rows: pd.DataFrame) -> Figure:
    """Judge accuracy of each model's test reconstructions beside that of its samples, one
    bar per sampler: results rows (`evaluation.checkpoint_rows`) of one checkpoint per
    run. A gap between the two is the sampling's fault, not the decoder's."""
    samplers = sorted(rows["sampler"].unique())
    models = list(dict.fromkeys(rows["label"]))
    width = 0.8 / (len(samplers) + 1)
    figure, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(models) + 2), 4.2),
                              layout="constrained")
    positions = np.arange(len(models))
    reconstruction = rows.drop_duplicates("label").set_index("label")["reconstruction_accuracy"]
    ax.bar(positions, reconstruction.reindex(models), width, label="reconstructions of test clips",
           color="black")
    for offset, sampler in enumerate(samplers, 1):
        accuracy = rows[rows["sampler"] == sampler].set_index("label")["accuracy"]
        ax.bar(positions + offset * width, accuracy.reindex(models), width,
               label=f"samples, {sampler}")
    ax.set_xticks(positions + width * len(samplers) / 2, models, rotation=30, ha="right",
                  fontsize="small")
    ax.set(ylabel="judge accuracy", ylim=(0, 1),
           title="Decoder or sampling? Accuracy of reconstructions and of samples")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(loc="lower left", fontsize="small")
    return figure


def per_digit_heatmap(values: pd.DataFrame, title: str, colour_label: str) -> Figure:
    """A `[row, digit]` table of values in [0, 1] (e.g. accuracy per digit), annotated."""
    longest = max((len(str(label)) for label in values.index), default=0)
    # wide enough for the row labels (about 0.07 inch a character) beside ten columns
    figure, ax = plt.subplots(figsize=(6 + 0.07 * longest, 0.45 * len(values) + 1.5),
                              layout="constrained")
    image = ax.imshow(values.to_numpy(float), vmin=0, vmax=1, cmap="viridis", aspect="auto")
    for (row, column), value in np.ndenumerate(values.to_numpy(float)):
        ax.text(column, row, f"{value:.0%}", ha="center", va="center", fontsize="small",
                color="white" if value < 0.6 else "black")
    ax.set_xticks(range(values.shape[1]), values.columns)
    ax.set_yticks(range(len(values)), values.index)
    ax.set(xlabel="digit", title=title)
    figure.colorbar(image, ax=ax, label=colour_label)
    return figure


def latent_projections(views: dict[str, np.ndarray], digits: np.ndarray, speakers: np.ndarray,
                       title: str) -> Figure:
    """`{method: [clip, 2]}` views of one latent space, coloured by digit and by speaker."""
    names = {"pca": "PC", "tsne": "t-SNE"}
    figure, axes = plt.subplots(len(views), 2, figsize=(11, 4.6 * len(views)), squeeze=False,
                                layout="constrained")
    speaker_names = sorted(set(speakers.tolist()))
    for row, (method, points) in enumerate(views.items()):
        for column, (labels, values, by) in enumerate(((digits, range(10), "digit"),
                                                       (speakers, speaker_names, "speaker"))):
            ax = axes[row, column]
            for index, value in enumerate(values):
                chosen = labels == value
                ax.scatter(points[chosen, 0], points[chosen, 1], s=9, alpha=0.8,
                           color=DIGIT_COLOURS(index % 10), label=str(value))
            axis = names.get(method, method)
            ax.set(title=f"{axis} of z, coloured by {by}", xlabel=f"{axis} 1", ylabel=f"{axis} 2")
            ax.legend(title=by, fontsize="small", markerscale=2, loc="best", ncols=2)
    figure.suptitle(title)
    return figure
