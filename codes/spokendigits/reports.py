"""The report in `reports/`: tables, figures and audio, regenerated from the runs.

`write_report` reads what `train.py` and `evaluate.py` produced and writes a
folder that renders on GitHub: `README.md` (the report, with every figure by
relative path and every wav linked), `vae_study.md/.csv` and `gan_study.md/.csv`
(each family's losses and training time at every checkpoint, where the report has
runs of it), `results.md/.csv` (the judge's metrics for every family, real-data rows
first), `figures/*.png` and `audio/*.wav`. The folder is built aside and
swapped in whole, so an interrupted report leaves the previous one intact.
Reports kept inside it (a subfolder made by `report.py --out`, e.g.
`reports/vae-study`) are copied into the new one and listed in its README.

The stage is a folder `.<name>.<8 random characters>/` beside the report (`.reports.*` for
`reports/`), holding the new report under the report's name and, during the
swap, the old one as `replaced`. Only one report.py at a time writes into a
folder's parent (an OS lock on the parent), and each first clears what a killed
one left there: a stage is removed, and a report lost between the swap's two
renames is put back (`recover_stages`).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from . import plots
from .audio import write_wav
from .classifier import CLASSIFIERS_ROOT
from .evaluation import (FLOOR, TABLE_COLUMNS, accuracy_per_digit, checkpoint_rows, is_model,
                         last_checkpoints, markdown_view, reconstructions)
from .errors import DataError, UsageError
from .features import FeatureSet
from .models import FAMILIES, family_of
from .runs import Run, histories, labels
from .sampling import SAMPLERS
from .storage import atomic_folder, atomic_write, try_lock
from .study import FOLDER as STUDY_FOLDER
from .study import Study
from .synthesis import Synthesizer, parse_digits

STUDY_COLUMNS = {
    "run": "run", "label": "model", "epochs": "epochs", "parameters": "params",
    "train_loss": "train loss", "validation_loss": "val loss", "test_loss": "test loss",
    "test_reconstruction": "test recon.", "test_kl": "test KL",
    "seconds_per_epoch": "s/epoch", "seconds": "total s"}
GAN_COLUMNS = {
    "run": "run", "label": "model", "epochs": "epochs", "parameters": "params",
    "train_critic_loss": "critic loss", "train_generator_loss": "generator loss",
    "train_wasserstein": "W estimate", "validation_wasserstein": "val W estimate",
    "seconds_per_step": "s/step", "seconds_per_epoch": "s/epoch", "seconds": "total s"}
SPOKEN = "0123456789"  # what every model says in the report's wavs
# Written into every report folder: only a folder holding it (or an empty one) is replaced.
MARKER = ".spokendigits-report"
# Written by people, not by this module: what the study tried and what it showed. A report
# folder's findings are kept when the report is made again, and linked from its README.
FINDINGS = "findings.md"


def by_table(runs: list[Run]) -> dict[str, list[Run]]:
    """`runs` grouped by the report table of their family's losses (`Family.table`:
    "vae_study", "gan_study"), in their order."""
    tables: dict[str, list[Run]] = {}
    for run in runs:
        tables.setdefault(family_of(run.model).table, []).append(run)
    return tables


def write_table(path: str | Path, table: pd.DataFrame, title: str, intro: str,
                floatfmt: str, columns: dict[str, str] | None = None,
                shown: pd.DataFrame | None = None) -> tuple[Path, Path]:
    """Write `table` to `<path>.csv` and, under `# title` and `intro`, to `<path>.md`.

    Args:
        columns: names to show in the markdown only (the CSV keeps the table's own).
        shown: a table to show in the markdown instead (e.g. formatted for reading).

    Returns:
        The markdown and CSV paths.
    """
    path = Path(path)
    markdown, csv = path.with_suffix(".md"), path.with_suffix(".csv")
    with atomic_write(csv, "w") as file:
        table.to_csv(file, index=False)
    if shown is None:
        shown = table.rename(columns=columns) if columns else table
    with atomic_write(markdown, "w") as file:
        file.write(f"# {title}\n\n{intro}\n\n{shown.to_markdown(index=False, floatfmt=floatfmt)}\n")
    return markdown, csv


def _summary_table(rows: pd.DataFrame) -> str:
    """`last_checkpoints` as a markdown table, each column formatted for reading."""
    def formatted(column: str, pattern: str) -> pd.Series:
        return rows[column].map(lambda value: "" if pd.isna(value) else pattern.format(value))

    return markdown_view(rows).assign(**{
        "test loss": formatted("test_loss", "{:.1f}"),
        "s/epoch": formatted("seconds_per_epoch", "{:.1f}"),
        "s/step": formatted("seconds_per_step", "{:.2f}"),
        "x real time": formatted("realtime_factor", "{:.0f}")}).to_markdown(index=False)


def results_intro(command: str, evaluation, judge: dict, draws: int) -> str:
    """What the results table holds and how it was measured."""
    return (f"Made by `{command}`, from each run's metrics.json (written by "
            f"`codes/evaluate.py`). Every row holds as many clips per digit as the real test "
            f"split (equal n); a model row is the mean ± std over {draws} disjoint draws of "
            f"that size (seed {evaluation.seed}, temperature {evaluation.temperature}, "
            f"{evaluation.griffin_lim_iterations} Griffin-Lim iterations). Judge: "
            f"`{judge['name']}`, its epoch chosen on a validation part of the training split "
            f"({judge['validation_accuracy']:.1%}); test accuracy "
            f"{judge['accuracy']:.1%}, through Griffin-Lim "
            f"{judge['griffin_lim_accuracy']:.1%}.\n\n"
            "- **Reference rows.** Real test clips, plain and through Griffin-Lim (accuracy "
            "and IS only: distances to the test split would compare it with itself). Real "
            "training clips through Griffin-Lim, in draws of the same size: the judge was "
            "trained on them, so read their accuracy as a ceiling. The floor: each digit's mean "
            "training spectrogram through Griffin-Lim. A model must beat it on accuracy, KID "
            "and recall, and the last column says where one does not.\n"
            "- **FD, KID.** Fréchet and kernel (unbiased MMD², cubic kernel) distances in the "
            "judge's embedding, against the test split.\n"
            f"- **Precision, recall.** Improved precision and recall (Kynkäänniemi et al. "
            f"2019, k = {evaluation.neighbours}) against the test split: the share of "
            "generated clips that fall among real ones (quality), and of real clips that fall "
            "among generated ones (coverage). Recall replaces the earlier diversity score.\n"
            "- **Sampler.** How z was drawn: `digit` from each digit's Gaussian fitted to the "
            "encoded training clips, `mixture` from its per-speaker Gaussians, `prior` from "
            "N(0, I) with the digit as the decoder's (or generator's) condition. A GAN has "
            "no encoder, so it is judged with `prior` only.\n"
            "- **recon. accuracy, test SC.** The judge's accuracy on the VAE's reconstructions "
            "of the test clips (through Griffin-Lim), and their spectral convergence: what the "
            "decoder can say when the latent vector is right.")


def recover_stages(destination: Path) -> list[str]:
    """Clear the stages a killed report.py left beside `destination`; call it holding the
    lock on `destination.parent`. Returns what was done, one line each, for the user.

    A stage is a folder `.<name>.` plus 8 random characters (as `atomic_folder` names it)
    holding only `<name>` (the new report, complete once it holds MARKER) and `replaced` (the
    old one, during the swap). If `destination` is missing, a kill fell between the swap's
    two renames (or before a first report's one rename): the complete new report is moved
    in (the swap is finished), else the old one is moved back.
    """
    done = []
    for stage in sorted(destination.parent.glob(f".{destination.name}." + "?" * 8)):
        if not stage.is_dir() or not {path.name for path in stage.iterdir()} <= {
                destination.name, "replaced"}:
            continue  # not a stage of a report
        new, old = stage / destination.name, stage / "replaced"
        if not destination.exists() and ((new / MARKER).is_file() or old.is_dir()):
            os.replace(new if (new / MARKER).is_file() else old, destination)
            done.append(f"restored {destination} from {stage.name}, left by an interrupted "
                        "report.py")
        shutil.rmtree(stage)
        done.append(f"removed {stage}, left by an interrupted report.py")
    return done


def write_report(runs: list[Run], feature_set: FeatureSet, destination: str | Path,
                 command: str, classifiers_dir: Path = CLASSIFIERS_ROOT, grid_rows: int = 5,
                 wav_seeds: tuple[int, ...] = (0, 1, 2), seed: int = 0) -> Path:
    """Write the whole report folder for `runs` (trained and evaluated) to `destination`,
    first clearing what an interrupted report.py left beside it (`recover_stages`).

    Args:
        command: the command line that made the report, written into it.
        grid_rows: generated clips per digit in each model's spectrogram grid.
        wav_seeds: one wav of each model saying "0123456789" per seed.
        seed: seeds the grids and the t-SNE projections.

    Raises:
        UsageError: `destination` is a file, a folder of other files, or cannot be made.
        DataError: another report.py is writing into the same parent folder.
    """
    destination = Path(destination)
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot make the folder {destination.parent} for the report "
                         f"({error.strerror}); choose another --out") from None
    lock = try_lock(destination.parent)
    if lock is None:
        raise DataError(f"another report.py is writing a report in {destination.parent}; "
                        "wait for it to end, then run this one again")
    try:
        for line in recover_stages(destination):
            print(line, flush=True)
        return _write_report(runs, feature_set, destination, command, classifiers_dir,
                             grid_rows, wav_seeds, seed)
    finally:
        os.close(lock)


def _write_report(runs: list[Run], feature_set: FeatureSet, destination: Path, command: str,
                  classifiers_dir: Path, grid_rows: int, wav_seeds: tuple[int, ...],
                  seed: int) -> Path:
    """`write_report` once the parent's lock is held and old stages are cleared."""
    if destination.exists() and not destination.is_dir():
        raise UsageError(f"{destination} is a file; name a folder for the report")
    nested = nested_reports(destination)  # kept: copied into the new report
    findings = destination / FINDINGS if (destination / FINDINGS).is_file() else None
    if destination.is_dir() and not (destination / MARKER).is_file() and \
            set(destination.iterdir()) - set(nested) - {findings}:
        raise UsageError(f"{destination} holds files but no report made by codes/report.py; the "
                         "report replaces its folder whole, so choose an empty or new folder")
    study = Study.of(runs, feature_set, classifiers_dir)
    results, evaluation, summaries = study.results, study.evaluation, study.summaries
    tables = by_table(runs)
    vaes, gans = tables.get("vae_study", []), tables.get("gan_study", [])

    def rows_of(chosen: list[Run], columns: dict[str, str]) -> pd.DataFrame:
        return summaries[summaries["run"].isin([run.name for run in chosen])].reindex(
            columns=list(columns))

    config = feature_set.config
    with atomic_folder(destination, replace=True) as folder:
        figures, sounds = folder / "figures", folder / "audio"
        if vaes:
            write_table(folder / "vae_study", rows_of(vaes, STUDY_COLUMNS),
                        "VAE study: losses and time",
                        f"Made by `{command}`, from each run's summary.json.\n\nLosses are per "
                        "clip: the decoder's negative log-likelihood plus beta x KL. For a "
                        f"fixed-variance decoder that is the squared error summed over the "
                        f"{config.n_freq} x {config.n_frames} scaled bins; a σ-VAE's includes "
                        "log σ per bin and goes below zero. Compare runs by test recon. (the "
                        "squared error, for every model). Seconds are wall time on the machine "
                        "that trained them.", floatfmt=".1f", columns=STUDY_COLUMNS)
            plots.save(plots.loss_curves(histories(vaes)), figures / "loss_curves.png")
        if gans:
            write_table(folder / "gan_study", rows_of(gans, GAN_COLUMNS),
                        "GANs: losses and time",
                        f"Made by `{command}`, from each run's summary.json.\n\nThe losses "
                        "of the last epoch before each checkpoint: the critic's and the "
                        "generator's (their scales depend on the loss, WGAN or hinge), and "
                        "the Wasserstein estimate, the critic's mean score of real clips "
                        "minus that of generated ones, on training and validation clips. A "
                        "step is one generator update with its critic updates; seconds are "
                        "wall time on the machine that trained the runs, with each epoch's "
                        "validation and callbacks.", floatfmt=".3g", columns=GAN_COLUMNS)
            plots.save(plots.gan_loss_curves(histories(gans)), figures / "gan_losses.png")
        write_table(folder / "results", results[list(TABLE_COLUMNS)], "Results",
                    results_intro(command, evaluation, study.judge,
                                  int(results["draws"].max())),
                    floatfmt=".3g", shown=markdown_view(results))

        plots.save(plots.training_time(summaries), figures / "training_time.png")
        by_epochs = checkpoint_rows(results, summaries)
        if by_epochs["sampler"].nunique() > 1:
            by_epochs = by_epochs.assign(label=by_epochs["label"] + ", " + by_epochs["sampler"])
        plots.save(plots.metrics_by_epochs(
            by_epochs, {**({"test_reconstruction": "test squared error per clip"} if vaes else {}),
                        "accuracy": "judge accuracy",
                        "kid": "KID against the test split", "recall": "recall"},
            "Checkpoints: loss and judged quality against epochs trained",
            references=results[results["run"].isin(
                ["real test clips", "real training clips, Griffin-Lim", FLOOR])]),
            figures / "checkpoints.png")
        last = last_checkpoints(results, summaries)
        models = checkpoint_rows(results, summaries)
        order = {run: position for position, run in enumerate(last["run"])}
        encoded = [run.name for run in runs if run.has_encoder()]  # reconstructions need one
        final = models[(models["epochs"] == models.groupby("run")["epochs"].transform("max"))
                       & models["run"].isin(encoded)]
        if encoded:
            plots.save(plots.reconstructions_against_samples(
                final.sort_values("run", key=lambda column: column.map(order), kind="stable")),
                figures / "reconstructions_and_samples.png")
        best = next(run for run in runs if run.name == last.loc[is_model(last), "run"].iloc[0])
        plots.save(_diagnosis_grid(best, feature_set, seed), figures / "diagnosis.png")
        plots.save(plots.per_digit_heatmap(accuracy_per_digit(last),
                                           "Judge accuracy per digit", "accuracy"),
                   figures / "accuracy_per_digit.png")
        test = feature_set.split_mask("test")
        plots.save(plots.spectrogram_grid(
            plots.digit_columns(feature_set.features[test], feature_set.digits[test], grid_rows,
                                seed),
            feature_set.featurizer.representation, "Real test clips",
            [f"digit {d}" for d in range(10)]),
            figures / "real.png")

        sections, separations, speeds = [], [], {}
        by_name = {run.name: run for run in runs}
        ranked = [by_name[name] for name in last.loc[is_model(last), "run"]]
        named = labels(runs)
        for run in tqdm(ranked, desc="report", unit="run"):
            label = named[run.name]
            synthesizer = Synthesizer(run)
            speeds[run.name] = study.realtime_factor(run)
            epoch = run.checkpoints[-1]
            plots.save(plots.spectrogram_grid(
                synthesizer.digit_grid(grid_rows, seed), run.featurizer.representation,
                f"{label}: generated, {epoch} epochs", [f"digit {d}" for d in range(10)]),
                figures / f"samples-{run.name}.png")
            latent_figure = ""
            views = study.latents(run)  # a GAN, or an exported VAE, has none
            if views is not None:
                plots.save(plots.latent_projections(
                    views.projections, views.digits, views.speakers,
                    f"{label}: test clips in latent space, {epoch} epochs"),
                    figures / f"latents-{run.name}.png")
                separations.append({"model": label, **views.separation})
                latent_figure = f"\n![{label}: latent space](figures/latents-{run.name}.png)\n"
            links = []
            for wav_seed in wav_seeds:
                name = f"{run.name}-{SPOKEN}-seed{wav_seed}.wav"
                write_wav(sounds / name, synthesizer.speak(parse_digits(SPOKEN), seed=wav_seed),
                          synthesizer.sample_rate)
                links.append(f"[seed {wav_seed}](audio/{name})")
            sections.append(
                f"### {label} (`{run.name}`)\n\n"
                f"{run.model.family}, {run.model.representation}, conditioning "
                f"{run.model.conditioning}, {run.model.likelihood}, regularization "
                f"{run.model.regularization}, latent size {run.model.latent_dim}; checkpoint "
                f"of {epoch} epochs.\n\nListen to it say {SPOKEN}: {' · '.join(links)}.\n\n"
                f"![{label}: generated spectrograms](figures/samples-{run.name}.png)\n"
                + latent_figure)

        separation = pd.DataFrame(separations, columns=["model", "digit", "speaker"])
        last["realtime_factor"] = last["run"].map(speeds)
        text = _report_text(runs, feature_set, study.judge, command, last, separation,
                            grid_rows, len(wav_seeds), sections, encoded=bool(encoded),
                            nested=[path.name for path in nested], findings=bool(findings))
        with atomic_write(folder / "README.md", "w") as file:
            file.write(text)
        study.write(folder / STUDY_FOLDER)
        for path in nested:  # copied, not moved: until the swap the old report stays whole
            shutil.copytree(path, folder / path.name)
        if findings:
            shutil.copy2(findings, folder / FINDINGS)
        (folder / MARKER).write_text("Made by codes/report.py, which replaces this folder whole.\n")
    return destination


def nested_reports(folder: Path) -> list[Path]:
    """The reports kept inside the report `folder` (subfolders holding the marker)."""
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.iterdir() if (path / MARKER).is_file())


def _diagnosis_grid(run: Run, feature_set: FeatureSet, seed: int):
    """One test clip of each digit, its reconstruction by `run`'s last checkpoint, and a
    sample of that digit by each sampler the model can use."""
    test = feature_set.split_mask("test")
    picked = np.flatnonzero(test)[[np.flatnonzero(feature_set.digits[test] == digit)[0]
                                   for digit in range(10)]]
    decoded = reconstructions(run, None, feature_set)
    rows = {"test clip": feature_set.features[picked]}
    if decoded is not None:
        rows["reconstruction"] = decoded[[int(np.sum(test[:index])) for index in picked]]
    synthesizer = Synthesizer(run)
    for sampler in SAMPLERS:
        if sampler in run.model.samplers:
            rows[f"sample, {sampler}"] = synthesizer.features(list(range(10)), seed=seed,
                                                              sampler=sampler)
    return plots.spectrogram_grid(np.stack(list(rows.values())),
                                  run.featurizer.representation,
                                  f"{run.label}: test clips, reconstructions and samples",
                                  [f"digit {d}" for d in range(10)], list(rows))


def _report_text(runs: list[Run], feature_set: FeatureSet, judge: dict,
                 command: str, last: pd.DataFrame, separation: pd.DataFrame, grid_rows: int,
                 wavs: int, sections: list[str], encoded: bool, nested: list[str],
                 findings: bool = False) -> str:
    """The report's markdown: its settings, findings, figures and one section per model.
    Sections about one kind of family (losses, reconstructions, latent spaces) appear
    where the report has runs of it; `encoded`: some VAE kept its encoder, so there are
    reconstructions to show; `nested`: the reports kept in subfolders, linked, as are the
    `findings` written by people where there are some."""
    config, summary = feature_set.config, feature_set.summary
    real = last[last["family"] == "real"].iloc[0]
    best = last[is_model(last)].iloc[0]  # sorted by accuracy
    tables = by_table(runs)
    vaes, gans = "vae_study" in tables, "gan_study" in tables
    present = {family_of(run.model) for run in runs}
    kinds = " and ".join(dict.fromkeys(family.kind for family in FAMILIES.values()
                                       if family in present))
    tables = ["[results.md](results.md) (judged quality)"]
    tables += ["[vae_study.md](vae_study.md) (VAE losses and training time)"] if vaes else []
    tables += ["[gan_study.md](gan_study.md) (GAN losses and training time)"] if gans else []
    kept = "".join(f"\n- Kept from before, a report of other runs: [{name}/]({name}/README.md)."
                   for name in nested)
    kept += f"\n- Written by people, kept from before: [{FINDINGS}]({FINDINGS}), what the study " \
        "tried and what it showed." if findings else ""
    parts = [f"""# Spoken digits with {kinds}: the study report

Made by `{command}` from {len(runs)} runs, trained by `python codes/train.py` and judged by
`python codes/evaluate.py`.

- Feature set `{feature_set.name}`: {summary['clips']} clips ({summary['train']} train /
  {summary['test']} test) at {config.sample_rate} Hz, cut or padded to {config.clip_seconds:.2f} s;
  {config.n_freq} x {config.n_frames} STFT bins (n_fft {config.n_fft}, hop {config.hop_length}).
- Judge `{judge['name']}`: test accuracy {judge['accuracy']:.1%}, and
  {judge['griffin_lim_accuracy']:.1%} through Griffin-Lim.
- Every checkpoint in tables: {", ".join(tables)}, with CSV copies beside them.{kept}

## Results at each run's last checkpoint

Accuracy is the share of generated clips the judge hears as the digit asked for; the real
test clips score {real['accuracy']:.1%}. The best last checkpoint by accuracy is **{best['label']}**,
at {best['accuracy']:.1%}; [results.md](results.md) has the earlier checkpoints too. s/step is
the median wall time of a training step (a VAE's batch, a GAN's generator update with its
critic updates) on the machine that trained the run; x real time is seconds of speech made
per second of compute when the model says {SPOKEN} as `inference.py` does (ONNX generator
and the representation's decoding, Griffin-Lim or the inverse STFT), measured here.

{_summary_table(last)}
"""]
    if vaes:
        parts.append("""
## Reconstruction error curves

![Training and validation reconstruction error per epoch of every VAE](figures/loss_curves.png)

Training and validation reconstruction error (squared error summed over a clip's scaled
bins) at every epoch, log scale. It is the one term every decoder likelihood shares: a
σ-VAE's own loss, with its log σ term, goes below zero and does not compare with the
fixed-variance loss. Training error is averaged over an epoch while the model still
improves, and with dropout on in the regularized runs, so it can sit above the
validation error; where a validation curve flattens while its training curve keeps
falling, that run has begun to overfit.
""")
    if gans:
        parts.append("""
## GAN losses

![Critic loss, Wasserstein estimate and spread of generated clips per epoch of every GAN](figures/gan_losses.png)

Per epoch: the critic's loss, the Wasserstein estimate (mean critic score of real clips
minus that of generated ones; solid training, dashed validation) and the spreads of generated
clips relative to real ones, within a digit (solid) and between digits (dotted) (1: as varied
as real clips; training warns of mode collapse under 0.25). A GAN's losses do not fall as a
VAE's do: a steady estimate with spreads near 1 is what a healthy run looks like, and only the
judged quality ranks them.
""")
    parts.append("""
## Training time

![Seconds per epoch and total training seconds of every run](figures/training_time.png)

Wall-clock time on the machine that trained the runs: the median epoch, and the whole run.

## Epochs and regularization

![Judge accuracy, KID and recall (and a VAE's test reconstruction error) against epochs trained](figures/checkpoints.png)

Each run's checkpoints: judge accuracy, KID and recall against the test split (and, for
VAEs, the test reconstruction error, squared error per clip). The horizontal lines are the
real test clips, real training clips and the floor. The floor's recall is near 0 by
construction (one spectrogram per digit), so beating it there shows only that a model varies.
""")
    if encoded:
        parts.append("""
## Decoder or sampling?

![Judge accuracy of each VAE's reconstructions and samples](figures/reconstructions_and_samples.png)

The judge's accuracy on each VAE's reconstructions of the test clips (the decoder fed the
right latent vector) beside its accuracy on samples, one bar per latent sampler, at each
run's last checkpoint. Where reconstructions score well and samples do not, the decoder can
say the digit and the sampling loses it; where both score low, the decoder blurs.
""")
    parts.append(f"""
![Test clips, reconstructions and samples of the best model](figures/diagnosis.png)

The best model's one test clip per digit, its reconstruction where it has an encoder, and
a sample of each digit by each sampler it can use.

![Judge accuracy per digit and model](figures/accuracy_per_digit.png)

Which digits each model's last checkpoint gets across, against the real test clips.

## Real clips

![Spectrograms of real test clips, one column per digit](figures/real.png)

{grid_rows} real test clips per digit, for comparison with the generated grids below.
""")
    if len(separation):
        speaker_first = int((separation["speaker"] > separation["digit"]).sum())
        parts.append(f"""
## Latent spaces

Silhouette scores of the VAEs' test clips' latent means (from -1, mixed, to 1, apart),
grouped by digit and by speaker; the figures below show the same points by PCA and t-SNE.
Speakers score higher than digits in {speaker_first} of {len(separation)} models. Scores near 0
mean the groups overlap; conditional models are given their labels beside z, so z need not
encode them. A GAN has no encoder to place clips in its z.

{separation.to_markdown(index=False, floatfmt=".3f")}
""")
    parts.append(f"""
## Models

Best accuracy first. Each model: {grid_rows} generated clips per digit (one column per
digit), for a VAE that kept its encoder its test clips' latent space, and {wavs} wavs of
it saying {SPOKEN}.

""")
    return "".join(parts) + "\n".join(sections)
