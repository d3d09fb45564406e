"""Judging runs: generate clips with each checkpoint and compute every metric at equal n.

Every row of a results table is computed on the same number of clips per digit
as the real test split has (FSDD: 30), and its distances are taken against that
test split. A checkpoint speaks `draws` disjoint sets of that size through the
same path as `inference.py` (latent sample, ONNX decoder, Griffin-Lim); the
judge hears them as waveforms analysed again, and each metric is the mean ± std
over the draws. Reference rows are judged the same way:

- real test clips, plain and through Griffin-Lim (accuracy and IS only: their
  distances to the test split would compare it with itself);
- real training clips through Griffin-Lim, in disjoint draws: what a generator
  that reproduced its training data would score;
- the floor: each digit's mean training log-magnitude spectrogram, through
  Griffin-Lim. A model that does not beat it has learnt nothing a plain
  average could not say;
- each representation's ceiling, for the runs of other representations than
  the log-magnitude: the real test clips encoded by it and decoded (accuracy
  and IS only), what a generator that made them perfectly would score.

Beside the judge, listeners from outside the project (`listeners`: a digit
recognizer and a MOS predictor) hear the first `outside_draws` draws of every
row of the last checkpoint, and of the reference rows, at the same n: the
real recordings themselves, not their features. They report; nothing is chosen
by them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import audio, listeners, metrics
from .classifier import CLASSIFIERS_ROOT, Judge
from .config import check_settings, config_hash, from_dict, to_dict
from .datasets import get_source
from .errors import UsageError
from .features import FeatureSet
from .flow import DEFAULT_GUIDANCE, check_flow_sampling
from .models import family_of
from .runs import Run, labels
from .sampling import DEFAULT_SAMPLER, SAMPLERS
from .storage import read_json, write_json
from .synthesis import Synthesizer, check_sampling


@dataclass(frozen=True)
class EvaluationConfig:
    """The fixed samples every model is judged on."""

    draws: int = field(default=5, metadata={
        "help": "disjoint draws per checkpoint, each of as many clips per digit as the test "
                "split has; metrics are the mean and std over draws"})
    seed: int = field(default=0, metadata={"help": "seeds latent samples, speakers, draws and phase"})
    temperature: float = field(default=1.0, metadata={"help": "spread of latent samples"})
    griffin_lim_iterations: int = field(default=64, metadata={"help": "as in inference"})
    neighbours: int = field(default=3, metadata={
        "help": "k of the k-nearest-neighbour manifolds of precision and recall"})
    samplers: tuple[str, ...] = field(default=(DEFAULT_SAMPLER,), metadata={
        "help": f"latent samplers to judge each checkpoint with, of {list(SAMPLERS)} ('prior' "
                "only for conditional models)"})
    guidance: tuple[float, ...] = field(default=(DEFAULT_GUIDANCE,), metadata={
        "help": "classifier-free guidance scales a flow model is judged at, each a row"})
    outside_draws: int = field(default=2, metadata={
        "help": "draws of each row (the last checkpoint's, and the references') that the "
                "outside listeners hear: a digit recognizer and a MOS predictor, about 0.15 s "
                "a clip (0: none)"})

    def __post_init__(self) -> None:
        check_settings("evaluation settings", [
            (self.draws >= 1, "draws must be at least 1"),
            (self.outside_draws >= 0, "outside_draws must not be negative"),
            (self.neighbours >= 1, "neighbours must be at least 1"),
            (bool(self.samplers) and set(self.samplers) <= set(SAMPLERS),
             f"samplers must be some of {list(SAMPLERS)}"),
        ])
        check_sampling(self.temperature, self.griffin_lim_iterations)
        for guidance in self.guidance:
            check_flow_sampling(guidance)


Judged = tuple[np.ndarray, np.ndarray]  # [clip, class] probabilities, [clip, dim] embeddings


def per_digit_count(feature_set: FeatureSet) -> int:
    """Clips per digit of every row: the test split's count of its rarest digit.

    Raises:
        UsageError: the test split has a digit fewer than 4 times (precision and recall
            need more clips than neighbours).
    """
    count = int(np.bincount(feature_set.digits[feature_set.split_mask("test")],
                            minlength=10).min())
    if count < 4:
        raise UsageError(f"the test split of {feature_set.name} has only {count} clips of some "
                         "digit; judging needs at least 4 of each: make the feature set with a "
                         "larger --test-fraction or --test-takes")
    return count


@dataclass
class RealData:
    """The judge's view of the real test split: the reference every distance is taken to."""

    test: Judged            # the test split, `per_digit` clips of each digit
    test_heard: Judged      # the same clips after a Griffin-Lim round trip
    digits: np.ndarray      # [clip]
    per_digit: int
    index: np.ndarray       # [clip] of those clips in the feature set
    spoken: np.ndarray      # [clip, sample] the Griffin-Lim waveforms `test_heard` judged

    def recordings(self, feature_set: FeatureSet) -> list[np.ndarray]:
        """The `[sample]` recordings of the test clips, as the dataset's folder holds them
        (cut or padded to the feature set's clip length)."""
        try:
            folder = get_source(feature_set.dataset).resolve_folder(None)
        except UsageError as error:
            raise UsageError(f"the outside listeners hear the real recordings, and {error}; "
                             "or judge without them (--outside-draws 0)") from None
        config = feature_set.config
        return [audio.fit_length(audio.load_wav(folder / path, config.sample_rate),
                                 config.clip_samples)
                for path in np.asarray(feature_set.files)[self.index]]

    @classmethod
    def judge(cls, feature_set: FeatureSet, judge: Judge, config: EvaluationConfig) -> RealData:
        test = np.flatnonzero(feature_set.split_mask("test"))
        per_digit = per_digit_count(feature_set)
        # all of an evenly split test set (FSDD); a seeded equal-n subset of an uneven one
        test = test[metrics.disjoint_draws(feature_set.digits[test], per_digit, 1, config.seed)[0]]
        features, analysis = feature_set.features[test], feature_set.featurizer.representation
        spoken = analysis.waveforms(features, seed=config.seed,
                                    n_iter=config.griffin_lim_iterations)
        return cls(judge.run(features), judge.run(analysis.features(spoken)),
                   feature_set.digits[test], per_digit, test, spoken)


def score(probabilities: np.ndarray, embeddings: np.ndarray, digits: np.ndarray, real: RealData,
          config: EvaluationConfig, distances: bool = True) -> dict[str, Any]:
    """Every metric of one draw of judged clips (`real.per_digit` of each digit); with
    `distances`, also those against the real test split."""
    predicted = probabilities.argmax(1)
    row = {"accuracy": metrics.accuracy(predicted, digits),
           "accuracy_per_digit": metrics.per_class_accuracy(predicted, digits),
           "inception_score": metrics.inception_score(probabilities, 1)[0]}
    if distances:
        reference = real.test[1]
        precision, recall = metrics.precision_recall(reference, embeddings, config.neighbours)
        row.update({"fd": metrics.frechet_distance(embeddings, reference),
                    "kid": metrics.kernel_distance(embeddings, reference),
                    "precision": precision, "recall": recall,
                    "fd_per_digit": metrics.frechet_distance_per_class(
                        embeddings, digits, reference, real.digits)})
    return row


SCALARS = ("accuracy", "inception_score", "fd", "kid", "precision", "recall")


def score_draws(judged: Judged, digits: np.ndarray, draws: list[np.ndarray], real: RealData,
                config: EvaluationConfig, distances: bool = True,
                heard: listeners.Heard | None = None) -> dict[str, Any]:
    """`score` of each draw (index arrays into the judged clips), as the mean of every
    metric, its std over draws (`<metric>_std`, None for one draw) and the count; with
    `heard` (the outside listeners' verdict on the first clips), also the outside scores
    of the draws it covers."""
    rows = [score(judged[0][draw], judged[1][draw], digits[draw], real, config, distances)
            for draw in draws]
    result: dict[str, Any] = {"draws": len(rows), **_mean_std(rows, SCALARS)}
    if heard is not None:
        covered = [draw for draw in draws if draw.max() < len(heard.digits)]
        result.update({"outside_draws": len(covered), **_mean_std(
            [heard.scores(digits, draw) for draw in covered], listeners.SCORES)})
    result["accuracy_per_digit"] = {digit: float(np.mean([row["accuracy_per_digit"][digit]
                                                          for row in rows]))
                                    for digit in rows[0]["accuracy_per_digit"]}
    if distances:
        per_digit = [row["fd_per_digit"] for row in rows]
        result["fd_per_digit"] = None if per_digit[0] is None else {
            digit: float(np.mean([row[digit] for row in per_digit])) for digit in per_digit[0]}
    return result


def _mean_std(rows: list[dict[str, float]], names: tuple[str, ...]) -> dict[str, Any]:
    """The mean over `rows` of each of `names` they hold, and its std (`<name>_std`, None
    for one row)."""
    result: dict[str, Any] = {}
    for name in names:
        if rows and name in rows[0]:
            values = [row[name] for row in rows]
            result[name] = float(np.mean(values))
            result[f"{name}_std"] = float(np.std(values, ddof=1)) if len(values) > 1 else None
    return result


def hear_draws(waveforms: Any, size: int, config: EvaluationConfig,
               sample_rate: int) -> listeners.Heard | None:
    """The outside listeners' verdict on the first `config.outside_draws` draws (`size`
    clips each) of `waveforms`; None where they are not asked."""
    if not config.outside_draws:
        return None
    return listeners.hear(waveforms[:config.outside_draws * size], sample_rate)


def _draw_slices(per_digit: int, draws: int) -> list[np.ndarray]:
    """Index arrays of clips laid out as `draws` blocks of `per_digit` clips of each digit."""
    size = 10 * per_digit
    return [np.arange(i * size, (i + 1) * size) for i in range(draws)]


def _block_digits(per_digit: int, draws: int) -> np.ndarray:
    """`[clip]` digits of that layout: each block is `per_digit` zeros, then ones, ..."""
    return np.tile(np.repeat(np.arange(10), per_digit), draws)


def reference_rows(feature_set: FeatureSet, judge: Judge, real: RealData,
                   config: EvaluationConfig, runs: list[Run] = ()) -> list[dict[str, Any]]:
    """The rows every table shows beside the models (see the module's docstring), and the
    ceilings of the representations of `runs`."""
    analysis, n = feature_set.featurizer.representation, real.per_digit
    rate = feature_set.config.sample_rate
    # the recordings are read only where the outside listeners hear them
    recordings = real.recordings(feature_set) if config.outside_draws else []
    rows = [{"run": name, **score_draws(judged, real.digits, [np.arange(len(real.digits))],
                                        real, config, distances=False,
                                        heard=hear_draws(spoken, 10 * n, config, rate))}
            for name, judged, spoken in (("real test clips", real.test, recordings),
                                         ("real test clips, Griffin-Lim", real.test_heard,
                                          real.spoken))]
    train = np.flatnonzero(feature_set.split_mask("train"))
    try:
        draws = metrics.disjoint_draws(feature_set.digits[train], n, config.draws, config.seed)
    except ValueError as error:
        raise UsageError(f"the training split cannot give {config.draws} disjoint draws of {n} "
                         f"clips per digit ({error}); ask for fewer --draws") from None
    chosen = train[np.concatenate(draws)]
    digits = _block_digits(n, config.draws)
    for name, features, asked in (
            ("real training clips, Griffin-Lim", feature_set.features[chosen],
             feature_set.digits[chosen]),
            (FLOOR, digit_means(feature_set)[digits], digits)):
        spoken = analysis.waveforms(features, seed=config.seed,
                                    n_iter=config.griffin_lim_iterations)
        rows.append({"run": name, **score_draws(
            judge.run(analysis.features(spoken)), asked, _draw_slices(n, config.draws), real,
            config, heard=hear_draws(spoken, 10 * n, config, rate))})
    return rows + ceiling_rows(feature_set, judge, real, config, runs)


def ceiling_rows(feature_set: FeatureSet, judge: Judge, real: RealData, config: EvaluationConfig,
                 runs: list[Run]) -> list[dict[str, Any]]:
    """"real test clips, <representation> round trip" for each representation of `runs`
    but the log-magnitude (whose round trip is the Griffin-Lim row): the test clips
    encoded from the feature set's arrays, decoded, analysed again and judged."""
    kept = {}  # name: (the first run of it, its representation)
    for run in runs:
        representation = run.representation
        if representation.name == "log-magnitude":
            continue
        owner, first = kept.setdefault(representation.name, (run.name, representation))
        if first.to_dict() != representation.to_dict():
            raise UsageError(f"runs {owner} and {run.name} use {representation.name} with "
                             "different settings or statistics, so they have no common ceiling; "
                             "judge them apart (codes/evaluate.py on each)")
    rows = []
    phase = None if feature_set.phase is None else feature_set.phase[real.index]
    for name, (_, representation) in sorted(kept.items()):
        waveforms = representation.round_trip(feature_set.features[real.index], phase,
                                              seed=config.seed,
                                              n_iter=config.griffin_lim_iterations)
        judged = judge.run(feature_set.featurizer.representation.features(waveforms))
        rows.append({"run": f"real test clips, {name} round trip",
                     **score_draws(judged, real.digits, [np.arange(len(real.digits))], real,
                                   config, distances=False)})
    return rows


FLOOR = "floor: digit means, Griffin-Lim"


def digit_means(feature_set: FeatureSet) -> np.ndarray:
    """`[digit, freq, frame]`: each digit's mean scaled log-magnitude over the training split,
    the model-free floor every model must beat."""
    train = feature_set.split_mask("train")
    return np.stack([feature_set.features[train & (feature_set.digits == digit)].mean(axis=0)
                     for digit in range(10)])


def reconstructions(run: Run, epoch: int | None, feature_set: FeatureSet) -> np.ndarray | None:
    """`[clip, freq, frame]` features of the test split decoded from its posterior means,
    or None where the checkpoint has no Keras encoder (an exported copy)."""
    if not run.has_encoder(epoch):
        return None
    test = feature_set.split_mask("test")
    return family_of(run.model).reconstruct(run, epoch, feature_set.features[test],
                                            feature_set.digits[test], feature_set.speakers[test])


def samplers_of(run: Run, config: EvaluationConfig) -> list[str]:
    """The configured samplers that can ask `run` for a digit (`ModelConfig.samplers`); a
    model that offers one sampler alone (a GAN: the prior) is judged with it whatever is
    configured. A
    speaker-conditional model is given a speaker for every clip, and draws from that
    speaker's Gaussian whether asked for "digit" or "mixture": it keeps the first of the
    two, so no two rows hold the same draws."""
    if len(run.model.samplers) == 1:
        return list(run.model.samplers)
    samplers = [sampler for sampler in config.samplers if sampler in run.model.samplers]
    if run.model.speaker_conditional:
        fitted = [sampler for sampler in samplers if sampler != "prior"]
        samplers = [sampler for sampler in samplers if sampler == "prior" or sampler == fitted[0]]
    return samplers


def check_samplers(run: Run, config: EvaluationConfig) -> None:
    """Raise UsageError, before any work, if none of the configured samplers can ask `run`
    for a digit (an unconditional VAE has no use for the prior)."""
    if not samplers_of(run, config):
        raise UsageError(f"run {run.name} cannot draw digits with --samplers "
                         f"{' '.join(config.samplers)}; it offers {' '.join(run.model.samplers)}")


def row_sampler(sampler: str, guidance: float = DEFAULT_GUIDANCE) -> str:
    """The name of a results row's sampler: "flow, guidance 2" for a flow, else `sampler`."""
    return f"flow, guidance {guidance:g}" if sampler == "flow" else sampler


def _sampler_rows(run: Run, config: EvaluationConfig) -> list[tuple[str, str, dict[str, Any]]]:
    """Each row `run` is judged in: its name, sampler and flow options. A flow gives a row
    per guidance scale ("flow, guidance 2"); other samplers one row named as they are."""
    rows = []
    for sampler in samplers_of(run, config):
        rows += [(row_sampler(sampler, guidance), sampler, {"guidance": guidance})
                 for guidance in config.guidance] if sampler == "flow" else [(sampler, sampler, {})]
    return rows


def _but_samplers(settings: Any) -> Any:
    """Evaluation settings with the samplers left out: what must match for two evaluations
    of one run to be merged, sampler by sampler."""
    if not isinstance(settings, dict) or not isinstance(settings.get("evaluation"), dict):
        return None
    return {**settings, "evaluation": {key: value for key, value in
                                       settings["evaluation"].items() if key != "samplers"}}


def clip_speakers(run: Run, clips: int, seed: int) -> list[str] | None:
    """A speaker for each of `clips` clips, drawn from `seed`, for a speaker-conditional
    `run` (None for others): judged in one voice, as `Synthesizer.arrays` draws for a
    whole string, a model's samples would hold a sixth of FSDD's voices."""
    if not run.model.speaker_conditional:
        return None
    return np.random.default_rng(seed).choice(run.speakers, clips).tolist()


def evaluate_checkpoint(run: Run, epoch: int, judge: Judge, feature_set: FeatureSet,
                        real: RealData, config: EvaluationConfig,
                        outside: bool = False) -> dict[str, Any]:
    """Judge one checkpoint: `draws` x `per_digit` clips of each digit per sampler, and the
    reconstructions of the test split (which separate decoder blur from sampling); with
    `outside`, the outside listeners hear them too."""
    synthesizer = Synthesizer(run, epoch)
    n = real.per_digit
    digits = _block_digits(n, config.draws)
    speakers = clip_speakers(run, len(digits), config.seed)
    samples = {}
    for name, sampler, flow in _sampler_rows(run, config):
        arrays = synthesizer.arrays(digits.tolist(), speakers, config.seed,
                                    config.temperature, sampler, **flow)
        waveforms = synthesizer.waveforms(arrays, config.griffin_lim_iterations, config.seed)
        judged = judge.run(run.featurizer.representation.features(waveforms))
        samples[name] = score_draws(
            judged, digits, _draw_slices(n, config.draws), real, config,
            heard=hear_draws(waveforms, 10 * n, config, synthesizer.sample_rate) if outside
            else None)
    result = {"epochs": epoch, "samplers": samples,
              "test_reconstruction": run.losses(epoch).get("test", {}).get("reconstruction"),
              "reconstruction_accuracy": None, "test_spectral_convergence": None}
    decoded = reconstructions(run, epoch, feature_set)
    if decoded is not None:
        test = feature_set.split_mask("test")
        analysis = feature_set.featurizer.representation
        spoken = analysis.waveforms(decoded, seed=config.seed,
                                    n_iter=config.griffin_lim_iterations)
        probabilities, _ = judge.run(analysis.features(spoken))
        result["reconstruction_accuracy"] = metrics.accuracy(probabilities.argmax(1),
                                                             feature_set.digits[test])
        outside_heard = hear_draws(spoken, len(spoken), config, synthesizer.sample_rate) \
            if outside else None  # the whole test split: one draw
        if outside_heard is not None:
            result.update({f"reconstruction_{name}": value for name, value in
                           outside_heard.scores(feature_set.digits[test]).items()})
        result["test_spectral_convergence"] = metrics.spectral_convergence(
            analysis.magnitude(feature_set.features[test]), analysis.magnitude(decoded))
    return result


def evaluate_run(run: Run, judge: Judge, feature_set: FeatureSet, real: RealData,
                 config: EvaluationConfig) -> tuple[dict[str, Any], bool]:
    """Every checkpoint of `run`, written to `<run>/metrics.json` once all are judged; reused
    when that file holds the same settings and judge (its weights, not only its name) and
    every sampler asked for. Samplers judged before with otherwise the same settings are
    kept beside the new ones. Returns the results and whether they were reused."""
    judge.check_features(run.featurizer)
    if not run.checkpoints:
        raise UsageError(f"run {run.name} has no checkpoint yet; train it first")
    check_samplers(run, config)
    settings = json.loads(json.dumps(  # as read back: tuples become lists
        {"evaluation": to_dict(config), "judge": judge.name, "judge_weights": judge.fingerprint,
         "feature_set": feature_set.name}))
    path = run.folder / "metrics.json"
    done = read_json(path) if path.is_file() else {}
    kept = {}  # checkpoint -> its samplers' scores judged before, with the same settings
    if isinstance(done, dict) and _but_samplers(done.get("settings")) == _but_samplers(settings) \
            and sorted(map(int, done["checkpoints"])) == run.checkpoints:
        judged = done["settings"]["evaluation"]["samplers"]
        if set(config.samplers) <= set(judged):
            return done, True
        kept = {epoch: checkpoint["samplers"] for epoch, checkpoint in done["checkpoints"].items()}
        settings["evaluation"]["samplers"] = list(dict.fromkeys([*judged, *config.samplers]))
    checkpoints = {str(epoch): evaluate_checkpoint(run, epoch, judge, feature_set, real, config,
                                                   outside=epoch == run.checkpoints[-1])
                   for epoch in run.checkpoints}
    for epoch, checkpoint in checkpoints.items():
        checkpoint["samplers"] = {**kept.get(epoch, {}), **checkpoint["samplers"]}
    results = {"settings": settings, "settings_hash": config_hash(settings),
               "checkpoints": checkpoints}
    write_json(path, results)  # whole, once every checkpoint is judged
    return results, False


TABLE_COLUMNS = {
    "run": "run", "family": "family", "conditioning": "conditioning",
    "likelihood": "likelihood", "size": "size", "regularization": "regularization",
    "epochs": "epochs", "sampler": "sampler",
    "accuracy": "accuracy", "inception_score": "IS", "fd": "FD", "kid": "KID",
    "precision": "precision", "recall": "recall",
    "listener": "listener", "mos_sig": "MOS SIG", "mos_bak": "MOS BAK", "mos_ovrl": "MOS OVRL",
    **{f"{name}_std": f"{name} std" for name in SCALARS + listeners.SCORES},
    "reconstruction_accuracy": "recon. accuracy", "test_reconstruction": "test recon.",
    "reconstruction_listener": "recon. listener", "reconstruction_mos_ovrl": "recon. MOS OVRL",
    "test_spectral_convergence": "test SC", "versus_floor": "against the floor"}
# What a model must beat the floor on, and which way is better.
FLOOR_CHECKS = {"accuracy": "higher", "kid": "lower", "recall": "higher"}


def versus_floor(row, floor) -> str:
    """"beats it", or the FLOOR_CHECKS metrics on which `row` does no better than `floor`,
    e.g. "no better on accuracy, KID"."""
    failed = [TABLE_COLUMNS.get(name, name) for name, better in FLOOR_CHECKS.items()
              if not (row[name] > floor[name] if better == "higher" else row[name] < floor[name])]
    return "beats it" if not failed else "no better on " + ", ".join(failed)


def results_table(references: list[dict], runs: list[tuple[Run, dict]]):
    """One row per reference, and per checkpoint and sampler of each run: the
    `TABLE_COLUMNS` first, then `label` and the per-digit metrics (dicts)."""
    import pandas as pd

    references = json.loads(json.dumps(references))  # as the runs' rows: read from JSON
    rows = [{"family": "real" if row["run"] != FLOOR else "floor", "label": row["run"], **row}
            for row in references]
    floor = next(row for row in references if row["run"] == FLOOR)
    named = labels([run for run, _ in runs])
    for run, results in runs:
        model = run.model
        described = {"run": run.name, "label": named[run.name], "family": model.family,
                     "conditioning": model.conditioning, "likelihood": model.likelihood,
                     "size": model.size, "regularization": model.regularization}
        for checkpoint in results["checkpoints"].values():
            common = {key: value for key, value in checkpoint.items() if key != "samplers"}
            rows += [{**described, **common, "sampler": sampler, **scores,
                      "versus_floor": versus_floor(scores, floor)}
                     for sampler, scores in checkpoint["samplers"].items()]
    table = pd.DataFrame(rows)
    return table.reindex(columns=list(TABLE_COLUMNS) +
                         [column for column in table if column not in TABLE_COLUMNS])


def is_model(table):
    """`[row]` mask of the model rows of a results table (neither real data nor the floor)."""
    return ~table["family"].isin(["real", "floor"])


def markdown_view(table):
    """A results table for reading: one `mean ± std` column per metric, labels for runs."""
    import pandas as pd

    def spread(name: str, pattern: str) -> pd.Series:
        def cell(row) -> str:
            if pd.isna(row.get(name)):
                return ""
            std = row.get(f"{name}_std")
            return pattern.format(row[name]) + ("" if pd.isna(std) else
                                                " ± " + pattern.format(std))
        return table.apply(cell, axis=1)

    def plain(name: str, pattern: str) -> pd.Series:
        return table[name].map(lambda value: "" if pd.isna(value) else pattern.format(value))

    return pd.DataFrame({
        "model": table["label"], "epochs": plain("epochs", "{:.0f}"),
        "sampler": table["sampler"].fillna(""),
        "accuracy": spread("accuracy", "{:.3f}"), "IS": spread("inception_score", "{:.2f}"),
        "FD": spread("fd", "{:.1f}"), "KID": spread("kid", "{:.1f}"),
        "precision": spread("precision", "{:.2f}"), "recall": spread("recall", "{:.2f}"),
        "listener": spread("listener", "{:.2f}"), "MOS SIG": spread("mos_sig", "{:.2f}"),
        "MOS OVRL": spread("mos_ovrl", "{:.2f}"),
        "recon. accuracy": plain("reconstruction_accuracy", "{:.3f}"),
        "recon. listener": plain("reconstruction_listener", "{:.2f}"),
        "recon. MOS OVRL": plain("reconstruction_mos_ovrl", "{:.2f}"),
        "test SC": plain("test_spectral_convergence", "{:.3f}"),
        "against the floor": table["versus_floor"].fillna("")})


def load_results(runs: list[Run], feature_set: FeatureSet, classifiers_dir: Path = CLASSIFIERS_ROOT):
    """The results table of runs already judged by `codes/evaluate.py`, read from their
    metrics.json, with the real-data rows made again by the judge those files name.

    Returns:
        The table (as `results_table`), the judge and the evaluation settings.

    Raises:
        UsageError: a run not evaluated (or evaluated before its last checkpoint), runs
            judged with different settings, or a judge missing from `classifiers_dir` or
            whose weights are not those that judged them.
    """
    evaluations = []
    for run in runs:
        path = run.folder / "metrics.json"
        done = read_json(path) if path.is_file() else {}
        if sorted(map(int, done.get("checkpoints", {}))) != run.checkpoints:
            raise UsageError(f"run {run.name} has no evaluation of all its checkpoints; "
                             "run codes/evaluate.py first")
        evaluations.append(done)
    settings = evaluations[0]["settings"]
    if any(_but_samplers(done["settings"]) != _but_samplers(settings) for done in evaluations):
        raise UsageError("these runs were judged with different settings or judges; evaluate "
                         "them together with codes/evaluate.py")
    if settings["feature_set"] != feature_set.name:
        raise UsageError(f"the runs were judged on {settings['feature_set']}, not {feature_set.name}")
    folder = Path(classifiers_dir) / settings["judge"]
    if not folder.is_dir():
        raise UsageError(f"the judge {settings['judge']} is not in {classifiers_dir}; point "
                         "--classifiers-dir at it, or run codes/evaluate.py to train it")
    judge = Judge(folder)
    if "judge_weights" not in settings:
        raise UsageError("these runs were judged before evaluate.py recorded the judge's weights; "
                         "run codes/evaluate.py on them again")
    if judge.fingerprint != settings["judge_weights"]:
        raise UsageError(f"the runs were judged by another {settings['judge']} than the one in "
                         f"{classifiers_dir} (its weights differ: it was trained on another "
                         "machine); run codes/evaluate.py on them again with this one")
    try:
        config = from_dict(EvaluationConfig, settings["evaluation"])
    except UsageError:
        raise UsageError("these runs were judged by an older version of codes/evaluate.py; run "
                         "it again") from None
    real = RealData.judge(feature_set, judge, config)
    return (results_table(reference_rows(feature_set, judge, real, config, runs),
                          list(zip(runs, evaluations))), judge, config)


def checkpoint_rows(results, summaries):
    """The model rows of a results table, with each checkpoint's test loss (VAEs) and
    seconds of training, and its run's seconds per epoch and per step, from
    `runs.collect_summaries` (empty where a run has none: a GAN's test loss, an older run's
    seconds per step)."""
    return results[is_model(results)].astype({"epochs": int}).merge(
        summaries.reindex(columns=["run", "epochs", "test_loss", "seconds", "seconds_per_epoch",
                                   "seconds_per_step"]), on=["run", "epochs"])


def last_checkpoints(results, summaries):
    """The reference rows of a results table, then each run's last checkpoint (as
    `checkpoint_rows`), best accuracy first. Each run is shown with the default sampler
    (a flow: at the default guidance) where it was judged with it (else with the first it
    was judged with), never with the sampler that happened to score best on these draws."""
    import pandas as pd

    models = checkpoint_rows(results, summaries)
    last = models[models["epochs"] == models.groupby("run")["epochs"].transform("max")]
    defaults = {DEFAULT_SAMPLER, row_sampler("flow")}
    last = last.sort_values("sampler", key=lambda column: ~column.isin(defaults),
                            kind="stable").drop_duplicates("run")
    last = last.sort_values("accuracy", ascending=False)
    return pd.concat([results[~is_model(results)], last], ignore_index=True)


def accuracy_per_digit(rows):
    """`[row, digit]` judge accuracies of results rows (e.g. `last_checkpoints`), indexed
    by model label, epochs and sampler."""
    import pandas as pd

    names = [label if pd.isna(epochs) else f"{label}, {epochs:.0f} epochs, {sampler}"
             for label, epochs, sampler in zip(rows["label"], rows["epochs"], rows["sampler"])]
    table = pd.DataFrame([{int(digit): value for digit, value in row.items()}
                          for row in rows["accuracy_per_digit"]], index=names)
    return table[sorted(table.columns)]
