"""A study as the notebooks read it: runs, their judged results, and what to look at and hear.

`Study.open(folder)` reads either of two layouts, and answers the same calls:

- a folder of run folders (`output/runs`): the runs' checkpoints, with their feature set
  and their judge, compute what is asked (latent means, generated clips);
- a study's light copy, which `report.py` writes into every report (`study/`, e.g.
  `reports/vae-study/study`), committed so that the notebooks run from a clone without
  training. `results.json` holds the judged table with its reference rows, the judge's
  accuracies and the evaluation's settings; `runs/<name>/` holds each run's `RUN_FILES`
  as `train.py` and `evaluate.py` wrote them, and `light.npz` with what `SHEET` asks of
  the run: its latent means of the test split with their digits and speakers (a VAE that
  kept its encoder), "0123456789" spoken, one sample of each digit, a ten-per-digit grid
  (the best model) and an interpolation (the models `interpolated` names), and its
  real-time factor.

The light copy holds only what the notebooks show; the rest (another grid, another
seed) needs the runs folder.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from .classifier import CLASSIFIERS_ROOT
from .config import from_dict, to_dict
from .errors import DataError, UsageError
from .evaluation import (TABLE_COLUMNS, EvaluationConfig, is_model, last_checkpoints,
                         load_results)
from .features import FEATURES_ROOT, FeatureSet
from .latents import LatentViews
from .runs import Run, collect_summaries, finished_runs, load_feature_set
from .storage import read_json, write_json


@dataclass(frozen=True)
class SampleSheet:
    """What every study shows of its runs, the same in both layouts."""

    grid_rows: int = 10                       # clips per digit in the best model's grid
    spoken: str = "0123456789"                # what every run says
    interpolation: tuple[int, int] = (1, 7)   # from this digit to that one
    steps: int = 8
    seed: int = 0                             # latent samples, Griffin-Lim's phase, t-SNE


SHEET = SampleSheet()
FOLDER = "study"          # a report's light copy of its study
RESULTS = "results.json"
LIGHT = "light.npz"
RUN_FILES = ("config.json", "history.csv", "summary.json", "metrics.json")
LIGHT_KEYS = ("spoken", "realtime_factor", "z", "digits", "speakers", "sample", "grid",
              "interpolation")


class Study:
    """Runs judged together (see the module's docstring), read with `open` or `of`. The
    judged results are read when first asked for: the data notebook needs only the runs'
    feature set."""

    def __init__(self, runs: list[Run], feature_set: FeatureSet | None = None,
                 light: Path | None = None, features_dir: Path = FEATURES_ROOT,
                 classifiers_dir: Path = CLASSIFIERS_ROOT):
        self.runs = runs
        self._feature_set, self._light = feature_set, light
        self._features_dir, self._classifiers_dir = features_dir, classifiers_dir
        self._computed: dict[tuple[str, str], Any] = {}

    @classmethod
    def open(cls, folder: str | Path, features_dir: Path = FEATURES_ROOT,
             classifiers_dir: Path = CLASSIFIERS_ROOT) -> Study:
        """The study in `folder`: a light copy (it holds `results.json`), else every
        finished run under it, judged by `codes/evaluate.py`."""
        folder = Path(folder)
        if not folder.is_dir():
            raise UsageError(f"{folder} is not a folder; name a runs folder (output/runs) or a "
                             "report's light copy of its study (reports/vae-study/study)")
        if (folder / RESULTS).is_file():
            names = read_json(folder / RESULTS)["runs"]
            return cls([Run.open(folder / "runs" / name) for name in names], light=folder,
                       features_dir=features_dir)
        return cls(finished_runs(root=folder), features_dir=features_dir,
                   classifiers_dir=classifiers_dir)

    @classmethod
    def of(cls, runs: list[Run], feature_set: FeatureSet,
           classifiers_dir: Path = CLASSIFIERS_ROOT) -> Study:
        """Run folders with their checkpoints, with their feature set and judge."""
        return cls(runs, feature_set, classifiers_dir=classifiers_dir)

    @cached_property
    def _judged(self) -> tuple[Any, dict[str, Any], EvaluationConfig]:
        if self.is_light:
            import pandas as pd

            saved = read_json(self._light / RESULTS)
            results = pd.DataFrame(saved["rows"], columns=saved["columns"])
            results = results.astype({column: dtype for column, dtype in saved["dtypes"].items()
                                      if dtype != "object"})
            # a copy written before a column existed (the outside scores) reads it as empty
            results = results.reindex(columns=list(TABLE_COLUMNS) + [
                column for column in results if column not in TABLE_COLUMNS])
            return (results, saved["judge"],
                    from_dict(EvaluationConfig, saved["evaluation"]))
        results, judge, evaluation = load_results(self.runs, self.feature_set,
                                                  self._classifiers_dir)
        return results, {"name": judge.name, "weights": judge.fingerprint,
                         "validation_accuracy": judge.metrics["validation"]["accuracy"],
                         "accuracy": judge.metrics["plain"]["accuracy"],
                         "griffin_lim_accuracy": judge.metrics["griffin_lim"]["accuracy"]}, \
            evaluation

    @property
    def results(self):
        """The judged table (`evaluation.results_table`): reference rows, then every
        checkpoint and sampler of every run."""
        return self._judged[0]

    @property
    def judge(self) -> dict[str, Any]:
        """The judge's name, weights' fingerprint and validation, test and Griffin-Lim
        accuracies."""
        return self._judged[1]

    @property
    def evaluation(self) -> EvaluationConfig:
        return self._judged[2]

    @property
    def is_light(self) -> bool:
        return self._light is not None

    @property
    def feature_set(self) -> FeatureSet:
        """The runs' feature set (a light copy looks for it in `features_dir`)."""
        if self._feature_set is None:
            self._feature_set = load_feature_set(self.runs, root=self._features_dir)
        return self._feature_set

    @cached_property
    def summaries(self):
        """One row per checkpoint of every run (`runs.collect_summaries`)."""
        return collect_summaries(self.runs)

    @cached_property
    def last(self):
        """The reference rows, then each run's last checkpoint, best accuracy first
        (`evaluation.last_checkpoints`)."""
        return last_checkpoints(self.results, self.summaries)

    @property
    def ranked(self) -> list[Run]:
        """The runs, best accuracy at their last checkpoint first."""
        by_name = {run.name: run for run in self.runs}
        return [by_name[name] for name in self.last.loc[is_model(self.last), "run"]]

    @property
    def interpolated(self) -> list[Run]:
        """The runs whose interpolation the study shows: the best, and the best
        conditional one where the best is unconditional."""
        best = self.ranked[0]
        conditional = [run for run in self.ranked if run.model.conditioning != "none"]
        return [best] + (conditional[:1] if best.model.conditioning == "none" else [])

    def latents(self, run: Run) -> LatentViews | None:
        """The test split in `run`'s latent space at its last checkpoint, or None for a
        model without an encoder (a GAN, an inference-only copy)."""
        if self.is_light:
            saved = self._saved(run)
            if "z" not in saved:
                return None
            return LatentViews.of_means(saved["z"], saved["digits"], saved["speakers"], SHEET.seed)
        if not run.has_encoder():
            return None
        return self._compute(run, "latents", lambda: LatentViews.of(
            run, self.feature_set, "test", seed=SHEET.seed))

    def spoken(self, run: Run) -> np.ndarray:
        """`[sample]` waveform of `run` saying `SHEET.spoken`, as `inference.py` says it."""
        if self.is_light:
            return self._saved(run, "spoken").astype(np.float32) / 32767
        from .synthesis import parse_digits

        return self._compute(run, "spoken", lambda: self._synthesizer(run).speak(
            parse_digits(SHEET.spoken), seed=SHEET.seed))

    def realtime_factor(self, run: Run) -> float:
        """Seconds of speech per second of compute (`synthesis.realtime_factor`), measured
        where the light copy was written, else here."""
        if self.is_light:
            return float(self._saved(run, "realtime_factor"))
        from .synthesis import realtime_factor

        return self._compute(run, "realtime_factor",
                             lambda: realtime_factor(self._synthesizer(run))[0])

    def sample(self, run: Run) -> np.ndarray:
        """`[digit, freq, frame]` log-magnitudes: one sample of each digit 0-9 (a one-row
        `Synthesizer.digit_grid`)."""
        if self.is_light:
            return self._saved(run, "sample").astype(np.float32)
        return self._compute(run, "sample", lambda: self._synthesizer(run).digit_grid(
            1, SHEET.seed)[0])

    def grid(self, run: Run) -> np.ndarray:
        """`[row, digit, freq, frame]` log-magnitudes: `SHEET.grid_rows` samples of each digit."""
        if self.is_light:
            return self._saved(run, "grid").astype(np.float32)
        return self._compute(run, "grid", lambda: self._synthesizer(run).digit_grid(
            SHEET.grid_rows, SHEET.seed))

    def interpolation(self, run: Run) -> np.ndarray:
        """`[step, freq, frame]` log-magnitudes morphing `SHEET.interpolation`'s first digit
        into its second (`Synthesizer.interpolate`)."""
        if self.is_light:
            return self._saved(run, "interpolation").astype(np.float32)
        start, end = SHEET.interpolation
        return self._compute(run, "interpolation", lambda: self._synthesizer(run).interpolate(
            start, end, SHEET.steps, seed=SHEET.seed))

    def write(self, destination: Path) -> None:
        """Write the light copy of this study into the new folder `destination` (inside a
        report, which is made aside and swapped in whole)."""
        from tqdm import tqdm

        destination.mkdir(parents=True)
        rows = self.results.astype(object).where(self.results.notna(), None)
        write_json(destination / RESULTS, {
            "runs": [run.name for run in self.runs], "judge": self.judge,
            "evaluation": to_dict(self.evaluation), "columns": list(rows.columns),
            "dtypes": {column: str(dtype) for column, dtype in self.results.dtypes.items()},
            "rows": rows.values.tolist()})
        grid, interpolated = self.ranked[0], self.interpolated
        for run in tqdm(self.runs, desc="study", unit="run"):
            folder = destination / "runs" / run.name
            folder.mkdir(parents=True)
            for name in RUN_FILES:
                shutil.copy2(run.folder / name, folder / name)
            arrays = {"spoken": np.round(np.clip(self.spoken(run), -1, 1) * 32767).astype(np.int16),
                      "realtime_factor": np.float64(self.realtime_factor(run)),
                      "sample": self.sample(run).astype(np.float16)}
            views = self.latents(run)
            if views is not None:
                arrays.update(z=views.z.astype(np.float32), digits=views.digits,
                              speakers=views.speakers.astype(str))
            if run is grid:
                arrays["grid"] = self.grid(run).astype(np.float16)
            if run in interpolated:
                arrays["interpolation"] = self.interpolation(run).astype(np.float16)
            np.savez_compressed(folder / LIGHT, **arrays)

    def _synthesizer(self, run: Run):
        from .synthesis import Synthesizer

        return self._compute(run, "synthesizer", lambda: Synthesizer(run))

    def _compute(self, run: Run, what: str, make):
        key = (run.name, what)
        if key not in self._computed:
            self._computed[key] = make()
        return self._computed[key]

    def _saved(self, run: Run, key: str | None = None):
        """`run`'s light arrays (one of them, where `key` is given)."""
        path = run.folder / LIGHT
        saved = self._compute(run, "light", lambda: _load_light(path))
        if key is None:
            return saved
        if key not in saved:
            raise DataError(f"{path} keeps no {key}: a study's light copy keeps only what the "
                            "notebooks show; point them at the runs folder for the rest")
        return saved[key]


def _load_light(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a run's `light.npz`, refusing a file that is not one."""
    try:
        with np.load(path, allow_pickle=False) as file:
            arrays = {key: file[key] for key in file.files}
    except FileNotFoundError:
        raise DataError(f"{path} is missing; make the study's copy again with "
                        "codes/report.py") from None
    except (OSError, ValueError) as error:
        raise DataError(f"{path} is damaged ({error}); make the study's copy again with "
                        "codes/report.py") from None
    unknown = set(arrays) - set(LIGHT_KEYS)
    if unknown or "spoken" not in arrays:
        raise DataError(f"{path} is not a run's light results (keys {sorted(arrays)}); make "
                        "the study's copy again with codes/report.py")
    return arrays

