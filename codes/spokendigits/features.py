"""Feature sets: STFT log-magnitudes of a whole dataset, with everything needed to use them again.

A feature set is made in two passes over the wavs, both spread over worker
processes: first the headers (durations, rates, channels), from which the
sample rate and the fixed clip length are chosen; then the audio itself,
loaded, resampled, padded or cut, and analysed in chunks. Scaling statistics
come from the training split only.

It is saved as a pickle of builtins alone (each array as raw bytes, a plain
dtype and a shape) and loaded through `storage.load_pickle`, which refuses
anything else; `FeatureSet.load` then checks every field's type and shape.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import os
import signal
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import numpy as np
import soundfile

from . import audio
from .config import check_settings, config_hash, from_dict, to_dict
from .datasets import (DATASET_ROOT, SPLITS, DatasetSource, assign_split, check_split,
                       find_clips, skip_record)
from .errors import DataError, UsageError
from .representations import LogMagnitude
from .storage import load_pickle, save_pickle

if TYPE_CHECKING:  # extraction's pool; imported where it starts
    from concurrent.futures import Executor

FEATURES_ROOT = DATASET_ROOT / "features"
MAX_DEFAULT_SAMPLE_RATE = 22050
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 1000, 384000  # Hz: what any speech recording could use
MAX_CLIP_SECONDS = 3600.0  # beyond sense for a spoken digit; also keeps sample counts finite
FORMAT = "spokendigits-featureset"
FORMAT_VERSION = 3  # 2: durations; 3: arrays as raw bytes, no numpy objects in the pickle
_PR_SET_PDEATHSIG = 1  # Linux prctl option: a signal to receive when the parent dies
# No standardised log-magnitude comes near this (FSDD's reach 2.9): beyond it, values
# are damage or a broken scaling.
MAX_FEATURE = 1e3
# Shorter wavs hold no spoken digit (FSDD's shortest is 0.14 s): skipped, not padded with
# silence into a training clip.
MIN_CLIP_SECONDS = 0.05
REMAKE = "make it again with `python codes/features.py` (the same settings give the same name)"


@dataclass(frozen=True)
class FeatureConfig:
    """How wavs become features. `None` fields are chosen from the data by `resolve`.

    A resolved config (every field set) is what a feature set and every model
    trained on it carry, so the features can be made and inverted again.
    """

    sample_rate: int | None = field(default=None, metadata={
        "help": "sample rate in Hz; unset: the dataset's most common rate, capped at 22050"})
    clip_seconds: float | None = field(default=None, metadata={
        "help": "fixed clip length in seconds (rounded up to whole frames); "
                "unset: the length_quantile of clip durations"})
    length_quantile: float = field(default=0.95, metadata={
        "help": "share of clips that fit uncut when clip_seconds is unset"})
    frame_multiple: int = field(default=16, metadata={
        "help": "round the frame count up to a multiple of this, so convolutions can "
                "halve it cleanly (1: no rounding)"})
    n_fft: int | None = field(default=None, metadata={
        "help": "STFT window in samples; unset: 32 ms rounded up to a power of two"})
    hop_length: int | None = field(default=None, metadata={
        "help": "STFT hop in samples; unset: n_fft // 4"})
    log_floor: float = field(default=1e-5, metadata={
        "help": "smallest magnitude before the log: the level of silence"})
    phase: bool = field(default=False, metadata={
        "help": "also store the STFT phase, for experiments"})
    split: str | None = field(default=None, metadata={
        "help": "train/test split; unset: the dataset's own (fsdd: takes, audiomnist: "
                "speakers, folder: random)", "choices": SPLITS})
    test_takes: int = field(default=5, metadata={
        "help": "split 'takes': takes 0 .. test_takes-1 are test clips (FSDD's official split)"})
    test_fraction: float = field(default=0.1, metadata={
        "help": "splits 'speakers' and 'random': share of speakers or clips held out"})
    seed: int = field(default=0, metadata={"help": "seed of the 'speakers' and 'random' splits"})

    def __post_init__(self) -> None:
        checks = [
            (self.sample_rate is None or MIN_SAMPLE_RATE <= self.sample_rate <= MAX_SAMPLE_RATE,
             f"sample_rate must be {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz"),
            # every comparison with nan is False, so these refuse nan too
            (self.clip_seconds is None or 0 < self.clip_seconds <= MAX_CLIP_SECONDS,
             f"clip_seconds must be more than 0 and at most {MAX_CLIP_SECONDS}"),
            (0 < self.length_quantile <= 1, "length_quantile must be in (0, 1]"),
            (1 <= self.frame_multiple <= 1024, "frame_multiple must be 1 to 1024"),
            (self.n_fft is None or self.n_fft >= 16, "n_fft must be at least 16"),
            # the inverse STFT and Griffin-Lim take n_fft = 2 * (freq bins - 1)
            (self.n_fft is None or self.n_fft % 2 == 0, "n_fft must be even"),
            (self.hop_length is None or self.hop_length >= 1, "hop_length must be positive"),
            (self.n_fft is None or self.hop_length is None or self.hop_length <= self.n_fft,
             "hop_length must not exceed n_fft"),
            (0 < self.log_floor < math.inf, "log_floor must be positive and finite"),
            (self.split is None or self.split in SPLITS, f"split must be one of {list(SPLITS)}"),
            (self.test_takes >= 1, "test_takes must be at least 1"),
            (0 < self.test_fraction < 1, "test_fraction must be in (0, 1)"),
        ]
        check_settings("feature settings", checks)

    @property
    def analysis(self) -> "FeatureConfig":
        """These settings with `phase` off: what makes the features themselves. Keeping the
        phase adds an array and changes no feature, so feature sets and judges compare by it."""
        return dataclasses.replace(self, phase=False)

    @property
    def is_resolved(self) -> bool:
        return None not in (self.sample_rate, self.clip_seconds, self.n_fft, self.hop_length,
                            self.split)

    @property
    def clip_samples(self) -> int:
        """Samples in every clip."""
        return round(self.clip_seconds * self.sample_rate)

    @property
    def stft(self) -> audio.StftSettings:
        """The STFT and clip length of these (resolved) settings, as every representation
        holds them."""
        return audio.StftSettings(self.sample_rate, self.n_fft, self.hop_length,
                                  self.clip_samples, self.log_floor)

    @property
    def n_freq(self) -> int:
        """Frequency bins of a spectrogram."""
        return self.stft.n_freq

    @property
    def n_frames(self) -> int:
        """STFT frames of a spectrogram."""
        return self.stft.n_frames

    def resolve(self, durations: Sequence[float], sample_rates: Sequence[int],
                default_split: str) -> "FeatureConfig":
        """A copy with every unset field chosen from the clips' durations (s) and rates (Hz)."""
        sample_rate = self.sample_rate or min(Counter(sample_rates).most_common(1)[0][0],
                                              MAX_DEFAULT_SAMPLE_RATE)
        n_fft = self.n_fft or audio.default_n_fft(sample_rate)
        hop_length = self.hop_length or n_fft // 4
        seconds = self.clip_seconds or float(np.quantile(durations, self.length_quantile))
        frames = 1 + math.ceil(round(seconds * sample_rate) / hop_length)  # whole frames, up
        frames = self.frame_multiple * math.ceil(frames / self.frame_multiple)
        return dataclasses.replace(
            self, sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length,
            clip_seconds=(frames - 1) * hop_length / sample_rate, split=self.split or default_split)


def analyse(waveforms: Sequence[np.ndarray], config: FeatureConfig
            ) -> tuple[np.ndarray, np.ndarray | None]:
    """Unscaled log-magnitudes (and phases, if the config keeps them) of clips of any length.

    Args:
        waveforms: `[clip, sample]`, or a list of `[sample]` waveforms; each is
            padded or cut to the config's clip length.

    Returns:
        `[clip, freq, frame]` float32 log-magnitudes, and the same shape of
        phases in radians or None.
    """
    batch = np.stack([audio.fit_length(waveform, config.clip_samples) for waveform in waveforms])
    spectrogram = audio.stft(batch, config.n_fft, config.hop_length)
    phase = np.angle(spectrogram).astype(np.float32) if config.phase else None
    return audio.log_magnitude(spectrogram, config.log_floor), phase


@dataclass(frozen=True)
class Featurizer:
    """A feature set's settings and the training split's statistics: a resolved
    `FeatureConfig` and its `Scaling`. This is what travels with a trained model and a
    judge, as `to_dict()` JSON; `representation` is what encodes, decodes and shows features.
    """

    config: FeatureConfig
    scaling: audio.Scaling

    def __post_init__(self) -> None:
        if not self.config.is_resolved:
            raise DataError(f"feature settings {to_dict(self.config)} are not resolved: "
                            "a featurizer needs every setting chosen; remake the feature set")

    @property
    def representation(self) -> LogMagnitude:
        """The `log-magnitude` representation of these settings and statistics: waveforms to
        features (`features`) and back (`waveforms`), and features to magnitudes."""
        return LogMagnitude.from_feature_config(self.config, self.scaling)

    def to_dict(self) -> dict[str, Any]:
        return {"config": to_dict(self.config), "scaling": self.scaling.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Featurizer":
        return cls(from_dict(FeatureConfig, data["config"]), audio.Scaling.from_dict(data["scaling"]))


@dataclass
class FeatureSet:
    """A dataset's features with their labels, split and the settings that made them.

    Attributes:
        features: `[clip, freq, frame]` float32, standardised log-magnitudes.
        phase: `[clip, freq, frame]` float32 STFT phase in radians, or None.
        digits, speakers, takes: `[clip]` what each clip's file name says.
        durations: `[clip]` seconds of each wav before it was padded or cut.
        files: `[clip]` paths relative to the dataset folder.
        is_test: `[clip]` bool, True for the test split.
        skipped: `{"file", "reason"}` for every wav that was not used.
        summary: counts and timings of the extraction.
    """

    dataset: str
    featurizer: Featurizer
    features: np.ndarray
    phase: np.ndarray | None
    digits: np.ndarray
    speakers: np.ndarray
    takes: np.ndarray
    durations: np.ndarray
    files: list[str]
    is_test: np.ndarray
    skipped: list[dict[str, str]]
    summary: dict[str, Any]

    @property
    def config(self) -> FeatureConfig:
        return self.featurizer.config

    @property
    def name(self) -> str:
        """`<dataset>-<hash of the resolved config and file list>`: same inputs, same name.

        The hash covers `FeatureConfig.analysis`: a set remade with `--phase` keeps the name,
        and still serves the runs and judges of the one without.
        """
        analysis = to_dict(self.config.analysis)
        return f"{self.dataset}-{config_hash([self.dataset, analysis, self.files])}"

    def split_mask(self, split: str) -> np.ndarray:
        """`[clip]` bool mask of the "train" or "test" clips."""
        if split not in ("train", "test"):
            raise UsageError(f"unknown split '{split}'; use 'train' or 'test'")
        return self.is_test if split == "test" else ~self.is_test

    def subset(self, keep: np.ndarray) -> "FeatureSet":
        """The clips where `keep` (`[clip]` bool) is True, with the same featurizer."""
        index = np.flatnonzero(keep)
        arrays = {name: getattr(self, name)[index]
                  for name in ("features", "digits", "speakers", "takes", "durations", "is_test")}
        return dataclasses.replace(
            self, **arrays, phase=None if self.phase is None else self.phase[index],
            files=[self.files[i] for i in index],
            summary={**self.summary, "clips": len(index), "train": int((~arrays["is_test"]).sum()),
                     "test": int(arrays["is_test"].sum()), "shape": list(arrays["features"].shape)})

    def save(self, folder: str | Path = FEATURES_ROOT) -> Path:
        """Write `<folder>/<name>.pkl` atomically and return its path.

        Raises:
            DataError: the values are unusable (`_value_problem`): nothing is written.
        """
        problem = self._value_problem()
        if problem:
            raise DataError(f"feature set {self.name} cannot be saved: {problem}; check the "
                            "wavs and the feature settings")
        path = Path(folder) / f"{self.name}.pkl"
        payload = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        payload["featurizer"] = self.featurizer.to_dict()
        save_pickle(path, {"format": FORMAT, "version": FORMAT_VERSION, **payload})
        return path

    @classmethod
    def load(cls, path: str | Path) -> "FeatureSet":
        """Read a feature set written by `save`.

        Raises:
            UsageError: `path` does not exist or is a folder.
            DataError: the file is crafted, damaged, of another format version, or a
                field's type or shape is not what `save` writes.
        """
        payload = load_pickle(path, REMAKE)
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise DataError(f"{path} is not a feature set; make one with codes/features.py")
        if payload.get("version") != FORMAT_VERSION:
            raise DataError(f"{path} is feature-set format {payload.get('version')}, this code "
                            f"reads {FORMAT_VERSION}; {REMAKE}")
        fields = {field.name for field in dataclasses.fields(cls)}
        missing = sorted(fields - set(payload))
        if missing:
            raise DataError(f"{path} is a damaged feature set (it lacks {', '.join(missing)}); "
                            f"{REMAKE}")
        try:
            payload = {key: value for key, value in payload.items() if key in fields}
            payload["featurizer"] = Featurizer.from_dict(payload["featurizer"])
            feature_set = cls(**payload)
            problem = feature_set._problem()
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as error:
            problem = f"{type(error).__name__}: {error}"
        if problem:
            raise DataError(f"{path} is a damaged feature set ({problem}); {REMAKE}")
        return feature_set

    def _problem(self) -> str | None:
        """What in this feature set differs in type or shape from what `save` writes, or None."""
        if type(self.dataset) is not str:
            return "dataset is not a name"
        if type(self.files) is not list or not all(type(file) is str for file in self.files):
            return "files is not a list of paths"
        clips, config = len(self.files), self.config
        spectrogram = (clips, config.n_freq, config.n_frames)
        arrays = {"features": ("f", spectrogram), "phase": ("f", spectrogram),
                  "digits": ("iu", (clips,)), "speakers": ("U", (clips,)),
                  "takes": ("iu", (clips,)), "durations": ("f", (clips,)),
                  "is_test": ("b", (clips,))}
        for name, (kinds, shape) in arrays.items():
            value = getattr(self, name)
            if name == "phase" and value is None:
                continue
            if not isinstance(value, np.ndarray) or value.dtype.kind not in kinds \
                    or value.shape != shape:
                found = f"{value.dtype} {value.shape}" if isinstance(value, np.ndarray) \
                    else type(value).__name__
                return f"{name} is {found}, not {shape} of numpy kind '{kinds}'"
        if self.features.dtype != np.float32 or self.phase is not None and \
                self.phase.dtype != np.float32:
            return "features or phase are not float32"
        if clips and not (0 <= self.digits.min() and self.digits.max() <= 9):
            return "digits outside 0-9"
        for name in ("mean", "std"):
            if getattr(self.featurizer.scaling, name).shape != (config.n_freq,):
                return f"the scaling {name} does not have {config.n_freq} frequency bins"
        return self._value_problem()

    def _value_problem(self) -> str | None:
        """What is wrong with the values (not the types) of the arrays, or None: NaN or
        infinities, standardised log-magnitudes beyond any a clip can give, phases outside
        [-pi, pi], or scaling statistics that are not finite (std positive)."""
        scaling = self.featurizer.scaling
        if not (np.isfinite(scaling.mean).all() and np.isfinite(scaling.std).all()
                and (scaling.std > 0).all()):
            return "the scaling statistics (featurizer.scaling.mean and std) are not finite, " \
                   "or std is not positive"
        if self.features.size and not np.abs(self.features).max() <= MAX_FEATURE:
            return f"features holds NaN, infinite or values beyond +-{MAX_FEATURE:g}, which no " \
                   "standardised log-magnitude reaches"
        if self.phase is not None and self.phase.size and \
                not np.abs(self.phase).max() <= np.pi + 1e-3:
            return "phase holds NaN or values outside [-pi, pi]"
        if len(self.durations) and not (np.isfinite(self.durations).all()
                                        and self.durations.min() >= 0):
            return "durations holds NaN, infinite or negative values"
        if type(self.skipped) is not list or not all(type(record) is dict for record in self.skipped):
            return "skipped is not a list of records"
        if type(self.summary) is not dict:
            return "summary is not a dict"
        return None


def default_workers() -> int:
    """The CPUs this process may use."""
    if hasattr(os, "sched_getaffinity"):  # Linux: respects taskset and container limits
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@contextlib.contextmanager
def _worker_pool(workers: int) -> Iterator[Executor | None]:
    """Worker processes, or None to work inline. Fork (where the platform has it) starts
    workers with this process's imports already done.

    Workers die with this process however it ends (see `_start_worker`). Leaving
    the block on an error drops the queued work; a worker that dies (out of
    memory, a crash in a codec) breaks the pool, and `_map` says so, rather than
    waiting for its work forever as `multiprocessing.Pool` would. SIGTERM and
    Ctrl-C are the script's to handle: `codes/features.py` stops the workers.
    """
    if workers == 1:
        yield None
        return
    import multiprocessing  # here, as for the others: inference starts faster without them
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context(
        "fork" if "fork" in multiprocessing.get_all_start_methods() else None)
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                               initargs=(os.getpid(),))
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)  # running chunks end within a second
        raise
    pool.shutdown()


def _start_worker(parent: int) -> None:
    """Set up a worker process so it dies with its parent, whose pid is `parent`.

    Workers wait on a queue that a killed parent never closes: without this,
    SIGKILL or SIGTERM of the parent leaves them waiting forever, each holding
    the parent's memory. Linux kills them with the parent (PR_SET_PDEATHSIG);
    elsewhere a thread notices within a second that the parent is gone.
    """
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # fork copied the parent's handler
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the parent stops the workers
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)
    if not sys.platform.startswith("linux"):
        threading.Thread(target=_exit_when_orphaned, args=(parent,), daemon=True).start()


def _exit_when_orphaned(parent: int) -> None:
    """Exit this process once `parent` is no longer its parent."""
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(1)


def _map(function: Callable, items: Sequence, pool: Executor | None, chunksize: int, desc: str,
         unit: str) -> Iterator:
    """`map` over `pool` (or in this process), in order, with a progress bar.

    Raises:
        DataError: a worker process died.
    """
    from concurrent.futures.process import BrokenProcessPool
    from tqdm import tqdm

    results = pool.map(function, items, chunksize=chunksize) if pool else map(function, items)
    try:
        yield from tqdm(results, total=len(items), desc=desc, unit=unit, leave=False)
    except BrokenProcessPool:
        raise DataError(f"a worker process died while {desc} (out of memory, or a crash in "
                        "a codec); run again with --workers 1 to see the error") from None


def _read_header(path: Path) -> tuple[int, int, int] | str:
    """(frames, sample rate, channels) of a wav, or why it cannot be used."""
    try:
        info = soundfile.info(str(path))
    except (soundfile.SoundFileError, RuntimeError, OSError) as error:
        return f"unreadable wav ({error})"
    if info.frames == 0:
        return "empty wav (no samples)"
    if info.frames < MIN_CLIP_SECONDS * info.samplerate:
        return (f"{1000 * info.frames / info.samplerate:.0f} ms long, shorter than the "
                f"{1000 * MIN_CLIP_SECONDS:.0f} ms any spoken digit takes")
    return info.frames, info.samplerate, info.channels


def _analyse_chunk(paths: list[Path], config: FeatureConfig
                   ) -> tuple[np.ndarray, np.ndarray | None, list[str | None]]:
    """Load and analyse a chunk of wavs. A wav that fails to decode gets a row of
    silence and a reason, so rows stay aligned with `paths`."""
    waveforms, problems = [], []
    for path in paths:
        try:
            waveforms.append(audio.load_wav(path, config.sample_rate))
            problems.append(None)
        except (soundfile.SoundFileError, RuntimeError, OSError, ValueError) as error:
            waveforms.append(np.zeros(1, np.float32))
            problems.append(f"unreadable wav ({error})")
    log_magnitude, phase = analyse(waveforms, config)
    return log_magnitude, phase, problems


def _check_memory(clips: int, config: FeatureConfig) -> None:
    """Raise UsageError if the features of `clips` clips cannot fit in this machine's memory,
    before any is allocated: settings such as `--clip-seconds 1e6` would otherwise end in
    an allocation error, or in the kernel killing the process."""
    needed = clips * config.n_freq * config.n_frames * 4 * (2 if config.phase else 1)
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not POSIX: no way to tell, so try
        return
    if needed > memory:
        raise UsageError(f"features of {clips} clips x {config.n_freq} bins x {config.n_frames} "
                         f"frames would take {needed / 2**30:.1f} GiB, more than this machine's "
                         f"{memory / 2**30:.1f} GiB; use a shorter --clip-seconds, a lower "
                         "--sample-rate or --n-fft, or fewer clips")


def _describe(skipped: list[dict[str, str]], shown: int = 3) -> str:
    """'N skipped: file: reason; ...' for an error message."""
    listed = "; ".join(f"{record['file']}: {record['reason']}" for record in skipped[:shown])
    return f"{len(skipped)} skipped: {listed}" + ("; ..." if len(skipped) > shown else "")


def extract(source: DatasetSource, folder: Path, config: FeatureConfig = FeatureConfig(),
            workers: int | None = None) -> FeatureSet:
    """Make the feature set of every usable wav below `folder`.

    The split is made from the headers, before any audio is analysed, and the
    clip length is chosen from training clips only.

    Args:
        source: the dataset, for its name and default split.
        folder: where its wavs are (any depth).
        config: settings; unset fields are chosen from the data.
        workers: processes (default: the CPUs this process may use; 1 runs inline).

    Raises:
        UsageError: no usable wav, settings that leave a split empty, or features
            too large for this machine's memory.
    """
    started = time.perf_counter()
    workers = default_workers() if workers is None else workers
    most = 4 * (os.cpu_count() or 1)  # more only costs memory: the work is CPU-bound
    if not 1 <= workers <= most:
        raise UsageError(f"--workers must be at least 1 and at most {most} (4 per CPU), "
                         f"not {workers}")
    clips, skipped = find_clips(folder)
    if not clips:
        raise UsageError(f"{folder} holds no wav named {{digit}}_{{speaker}}_{{take}}.wav "
                         f"({len(skipped)} other wavs); point --data-dir at such a folder")
    with _worker_pool(workers) as pool:
        headers = list(_map(_read_header, [clip.path for clip in clips], pool, 64,
                            "reading headers", "file"))
        usable = [clip for clip, header in zip(clips, headers) if not isinstance(header, str)]
        skipped += [skip_record(clip.path, folder, header)
                    for clip, header in zip(clips, headers) if isinstance(header, str)]
        if not usable:
            raise UsageError(f"{folder} holds no usable wav: {_describe(skipped)}")
        frames, rates, channels = np.array([h for h in headers if not isinstance(h, str)]).T
        rule = config.split or source.default_split
        is_test = assign_split(usable, rule, config.test_takes, config.test_fraction, config.seed)
        train = ~is_test
        config = config.resolve(frames[train] / rates[train], rates[train].tolist(), rule)
        _check_memory(len(usable), config)

        log_magnitudes = np.empty((len(usable), config.n_freq, config.n_frames), np.float32)
        phase = np.empty_like(log_magnitudes) if config.phase else None
        chunk_size = max(1, min(256, math.ceil(len(usable) / (4 * workers))))
        starts = range(0, len(usable), chunk_size)
        chunks = [[clip.path for clip in usable[start:start + chunk_size]] for start in starts]
        problems: list[str | None] = []
        results = _map(functools.partial(_analyse_chunk, config=config), chunks, pool, 1,
                       "analysing", "chunk")
        for start, (chunk_log_magnitude, chunk_phase, chunk_problems) in zip(starts, results):
            log_magnitudes[start:start + len(chunk_problems)] = chunk_log_magnitude
            if phase is not None:
                phase[start:start + len(chunk_problems)] = chunk_phase
            problems += chunk_problems

    kept = np.array([problem is None for problem in problems])
    if not kept.all():  # rare: a header that reads but audio that does not
        skipped += [skip_record(clip.path, folder, problem)
                    for clip, problem in zip(usable, problems) if problem]
        if not kept.any():
            raise UsageError(f"{folder} holds no usable wav: {_describe(skipped)}")
        usable = [clip for clip, keep in zip(usable, kept) if keep]
        log_magnitudes, is_test = log_magnitudes[kept], is_test[kept]
        phase = phase[kept] if phase is not None else None
        frames, rates, channels = frames[kept], rates[kept], channels[kept]
        check_split(is_test, rule)

    scaling = audio.Scaling.fit(log_magnitudes, include=~is_test)
    features = scaling.apply(log_magnitudes)
    summary = {
        "clips": len(usable),
        "train": int((~is_test).sum()),
        "test": int(is_test.sum()),
        "skipped": len(skipped),
        "resampled": int((rates != config.sample_rate).sum()),
        "mixed_down": int((channels > 1).sum()),
        "cut_share": float((frames * config.sample_rate / rates > config.clip_samples).mean()),
        "shape": list(features.shape),
        "seconds": round(time.perf_counter() - started, 3),
    }
    return FeatureSet(
        dataset=source.name, featurizer=Featurizer(config, scaling), features=features,
        phase=phase, digits=np.array([clip.digit for clip in usable]),
        speakers=np.array([clip.speaker for clip in usable]),
        takes=np.array([clip.take for clip in usable]),
        durations=(frames / rates).astype(np.float32),
        files=[str(clip.path.relative_to(folder)) for clip in usable], is_test=is_test,
        skipped=skipped, summary=summary)
