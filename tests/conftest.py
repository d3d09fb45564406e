"""Shared fixtures: the FSDD copy, small wav folders written on the spot, the scripts."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile

ROOT = Path(__file__).resolve().parents[1]
SHARED_FSDD = ROOT.parent / "shared" / "datasets" / "fsdd"
# Fixtures that train GANs or judge a whole study: every test using one is `slow`, outside
# the fast lane (`pytest -m "not slow"`). Tests that train by themselves are marked in place.
SLOW_FIXTURES = {"gan_runs", "tiny_study"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def deterministic_ops() -> None:
    """Op determinism on for the tests that train in this process (the scripts switch it on
    for their own where the settings ask): the same seed, the same losses."""
    from spokendigits.distribute import set_determinism

    set_determinism(True)


@pytest.fixture(scope="session")
def fsdd_dir() -> Path:
    """The real FSDD: $FSDD_DIR, else a shared copy beside the project (then set as
    $FSDD_DIR, where the evaluation's outside listeners look for the recordings), else
    dataset/fsdd (downloaded there on first use, as `codes/features.py` does)."""
    from spokendigits.datasets import get_source

    if not os.environ.get("FSDD_DIR") and (SHARED_FSDD / "recordings").is_dir():
        os.environ["FSDD_DIR"] = str(SHARED_FSDD)
        return SHARED_FSDD
    folder = get_source("fsdd").resolve_folder(None)
    if not (folder / "recordings").is_dir():
        pytest.fail(f"FSDD not found at {folder}: set FSDD_DIR to a folder holding recordings/")
    return folder


def write_tone(path: Path, seconds: float = 0.3, sample_rate: int = 8000, channels: int = 1,
               frequency: float = 440.0) -> np.ndarray:
    """Write a sine tone (quiet noise added) as 16-bit PCM and return `[sample, channel]`."""
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    rng = np.random.default_rng(int(frequency))
    mono = 0.5 * np.sin(2 * np.pi * frequency * t) + 0.01 * rng.standard_normal(t.size)
    data = np.stack([mono * (0.5 + 0.5 * c) for c in range(channels)], axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, data, sample_rate, subtype="PCM_16")
    return data


@pytest.fixture
def tone_folder(tmp_path: Path) -> Path:
    """A folder of 10 digits x 2 speakers x 6 takes of 8 kHz tones, one pitch per digit."""
    folder = tmp_path / "wavs"
    for digit in range(10):
        for speaker in ("ann", "bob"):
            for take in range(6):
                write_tone(folder / f"{digit}_{speaker}_{take}.wav", seconds=0.2 + 0.02 * take,
                           frequency=300 + 100 * digit)
    return folder


def train_killed_after_epoch(spec, feature_set, root: Path, monkeypatch, last: int = 1) -> None:
    """Train `spec` under `root` and kill it (KeyboardInterrupt) once the state of its
    epoch `last` is saved, as a user stopping train.py would."""
    from spokendigits import training

    save = training.SaveState.on_epoch_end

    def killed(self, epoch, logs=None):
        save(self, epoch, logs)
        if epoch + 1 == last:
            raise KeyboardInterrupt

    monkeypatch.setattr(training.SaveState, "on_epoch_end", killed)
    with pytest.raises(KeyboardInterrupt):
        training.train_run(spec, feature_set, root, verbose=0)
    monkeypatch.undo()


def resumed_epoch_in_new_process(folder: Path, family: str) -> subprocess.CompletedProcess:
    """A new process (as a user runs train.py again) loads the saved state of the run in
    `folder` and prints the epoch it resumes from: resuming imports the family's network,
    whose saved classes Keras must know."""
    return subprocess.run(
        [sys.executable, "-c", "import sys; from pathlib import Path; "
         "from spokendigits.models import FAMILIES; from spokendigits.training import _resume; "
         "print(_resume(Path(sys.argv[1]), FAMILIES[sys.argv[2]])[1])", str(folder), family],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "codes")})


def run_script(name: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `codes/<name>` as a user would, from the project root."""
    return subprocess.run([sys.executable, str(ROOT / "codes" / name), *args], cwd=ROOT,
                          capture_output=True, text=True, env={**os.environ, **(env or {})})


@pytest.fixture(scope="session")
def fsdd_feature_set(fsdd_dir):
    """The FSDD feature set with default settings and the phase kept (for the GANs that use
    it; it changes no feature and no name), made once per test session."""
    from spokendigits.datasets import get_source
    from spokendigits.features import FeatureConfig, extract

    return extract(get_source("fsdd"), fsdd_dir, FeatureConfig(phase=True), workers=2)


@pytest.fixture(scope="session")
def small_feature_set(fsdd_feature_set):
    """360 real clips: takes 5-9 for training (300), take 0 for test (60)."""
    takes = fsdd_feature_set.takes
    return fsdd_feature_set.subset((takes == 0) | ((takes >= 5) & (takes < 10)))


@pytest.fixture(scope="session")
def small_feature_file(small_feature_set, tmp_path_factory):
    """`small_feature_set` saved, for the scripts that read a feature file."""
    return small_feature_set.save(tmp_path_factory.mktemp("features"))


TINY_TRAINING = {"epochs": (1, 2), "batch_size": 64}


@pytest.fixture(scope="session")
def trained_runs(small_feature_set, tmp_path_factory):
    """Two runs trained for 2 epochs: an unconditional MLP and a digit+speaker CNN."""
    from spokendigits.models import ModelConfig
    from spokendigits.runs import RunSpec, TrainConfig
    from spokendigits.training import train_run

    root = tmp_path_factory.mktemp("runs")
    specs = {"mlp": RunSpec(ModelConfig(family="mlp-vae", width=32), TrainConfig(**TINY_TRAINING)),
             "cnn": RunSpec(ModelConfig(family="cnn-vae", conditional=True, speaker_conditional=True),
                            TrainConfig(**TINY_TRAINING))}
    return {key: train_run(spec, small_feature_set, root, verbose=0)[0] for key, spec in specs.items()}


@pytest.fixture(scope="session")
def small_judge(small_feature_set, tmp_path_factory):
    """A classifier trained for 3 epochs on the small feature set."""
    from spokendigits.classifier import ClassifierConfig, train_classifier

    config = ClassifierConfig(epochs=3, griffin_lim_iterations=4)
    return train_classifier(small_feature_set, config, tmp_path_factory.mktemp("classifiers"),
                            verbose=0)


@dataclass
class TinyStudy:
    """A study laid out as the scripts leave it, small enough for the notebooks and the
    report to run on in the test suite."""

    runs_dir: Path
    features_dir: Path
    classifiers_dir: Path

    @property
    def environment(self) -> dict[str, str]:
        """What points the notebooks at this study."""
        return {"SPOKENDIGITS_STUDY_DIR": str(self.runs_dir),
                "SPOKENDIGITS_RUNS_DIR": str(self.runs_dir),  # 06 reads runs only
                "SPOKENDIGITS_FEATURES_DIR": str(self.features_dir),
                "SPOKENDIGITS_CLASSIFIERS_DIR": str(self.classifiers_dir)}


@pytest.fixture(scope="session")
def tiny_study(trained_runs, small_feature_set, small_judge, tmp_path_factory) -> TinyStudy:
    """Copies of the trained runs, evaluated on a few clips, beside their feature set and judge."""
    from spokendigits.evaluation import EvaluationConfig, RealData, evaluate_run
    from spokendigits.runs import Run

    root = tmp_path_factory.mktemp("study")
    features_dir = small_feature_set.save(root / "features").parent
    config = EvaluationConfig(draws=1, griffin_lim_iterations=2, outside_draws=0)
    real = RealData.judge(small_feature_set, small_judge, config)
    for run in trained_runs.values():
        copy = Run.open(shutil.copytree(run.folder, root / "runs" / run.name))
        (copy.folder / "metrics.json").unlink(missing_ok=True)  # another test's evaluation
        evaluate_run(copy, small_judge, small_feature_set, real, config)
    return TinyStudy(root / "runs", features_dir, small_judge.folder.parent)
