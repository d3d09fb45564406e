"""Data sources: FSDD, AudioMNIST and any folder of `{digit}_{speaker}_{take}.wav`.

Each source says where its folder comes from (an option, an environment
variable, a default folder, or a download) and how it is split into training
and test clips. Clips are found by file name, in any sub-folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import DataError, UsageError
from .storage import atomic_folder

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATASET_ROOT = PROJECT_ROOT / "dataset"

# A take of at most 9 digits: any longer does not fit the feature set's integer array, and
# such a wav is skipped with the names that do not parse, before any work.
CLIP_NAME = re.compile(r"^(?P<digit>\d)_(?P<speaker>[A-Za-z0-9]+)_(?P<take>\d{1,9})$")

# FSDD is pinned to one commit of its public repository. The archive GitHub
# builds for a commit is not byte-stable over the years, so the pin checks the
# recordings themselves: `folder_digest` of the 3000 extracted wavs.
FSDD_COMMIT = "26eb9aaf76e81b692f806f9140c2d2777410d7a1"
FSDD_URL = f"https://github.com/Jakobovski/free-spoken-digit-dataset/archive/{FSDD_COMMIT}.tar.gz"
FSDD_RECORDINGS_SHA256 = "a2e8a660492f28d9eed6270b290d26cbc5c81d6077ce87d3c0ad5adf4d4ee696"

AUDIOMNIST_KAGGLE = "sripaadsrinivasan/audio-mnist"

SPLITS = ("takes", "speakers", "random")


@dataclass(frozen=True)
class Clip:
    """One recording: where it is and what its name says."""

    path: Path
    digit: int
    speaker: str
    take: int


def parse_clip_name(path: str | Path) -> Clip | None:
    """The digit, speaker and take of `{digit}_{speaker}_{take}.wav`, or None if it does not match."""
    path = Path(path)
    match = CLIP_NAME.match(path.stem)
    if path.suffix.lower() != ".wav" or match is None:
        return None
    return Clip(path, int(match["digit"]), match["speaker"], int(match["take"]))


def find_clips(folder: Path) -> tuple[list[Clip], list[dict[str, str]]]:
    """Every wav below `folder`, parsed; wavs whose names do not parse are listed as skipped.

    Returns:
        The clips sorted by path, and `{"file", "reason"}` records of skipped files.
    """
    clips, skipped = [], []
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() != ".wav" or not path.is_file():
            continue
        clip = parse_clip_name(path)
        if clip is None:
            skipped.append(skip_record(path, folder, "name is not {digit}_{speaker}_{take}.wav"))
        else:
            clips.append(clip)
    return clips, skipped


def skip_record(path: Path, folder: Path, reason: str) -> dict[str, str]:
    """How a feature set lists a file it did not use."""
    return {"file": str(path.relative_to(folder)), "reason": reason}


def folder_digest(folder: Path) -> str:
    """SHA-256 over the sorted names and contents of the wavs directly in `folder`."""
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.wav")):
        digest.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _download(url: str, destination: Path) -> None:
    """Fetch `url` into `destination` with a progress bar."""
    import urllib.error  # here: inference, which never downloads, starts faster without them
    import urllib.request

    from tqdm import tqdm

    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(destination, "wb") as file:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc="download", leave=False) as bar:
                while chunk := response.read(1 << 20):
                    file.write(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, OSError) as error:
        raise DataError(f"could not download {url} ({error}); check the connection, or pass "
                        "--data-dir with a copy of the dataset") from None


def download_fsdd(destination: Path, url: str = FSDD_URL,
                  sha256: str = FSDD_RECORDINGS_SHA256) -> Path:
    """Download the pinned FSDD release into `destination/recordings`, checking its digest.

    Nothing appears at `destination` unless the whole download is verified.
    """
    import tarfile

    with atomic_folder(destination) as staging:
        archive = staging.parent / "fsdd.tar.gz"  # scratch space, removed with the staging
        _download(url, archive)
        recordings = staging / "recordings"
        recordings.mkdir()
        try:
            with tarfile.open(archive) as tar:
                for member in tar:
                    parts = Path(member.name).parts
                    if member.isfile() and len(parts) == 3 and parts[1] == "recordings" \
                            and parts[2].endswith(".wav"):
                        with tar.extractfile(member) as source, open(recordings / parts[2], "wb") as target:
                            shutil.copyfileobj(source, target)
        except (tarfile.TarError, EOFError, OSError) as error:
            raise DataError(f"the FSDD archive from {url} is damaged ({error}); try again") from None
        found = folder_digest(recordings)
        if found != sha256:
            raise DataError(f"the FSDD recordings from {url} do not match the pinned checksum "
                            f"(expected {sha256}, got {found}); nothing was kept")
    return destination


def download_audiomnist(destination: Path) -> Path:
    """Download AudioMNIST from Kaggle (needs a Kaggle API token) into `destination`."""
    no_token = ("create an API token (kaggle.com > Settings > API) as the kaggle package's "
                "README says, or pass --data-dir with an existing AudioMNIST folder")
    try:
        import kaggle  # imported here: it tries to authenticate as it loads
    except ImportError:
        raise UsageError("downloading AudioMNIST needs the kaggle package (pip install kaggle); "
                         "or pass --data-dir with an existing AudioMNIST folder") from None
    except Exception as error:  # kaggle 1.x raises at import when it finds no token
        raise UsageError(f"Kaggle could not authenticate ({error}); {no_token}") from None
    try:
        # kaggle 2.x only prints at import; ask again, quietly, to know.
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            kaggle.api.authenticate()
    except (Exception, SystemExit):
        raise UsageError(f"Kaggle could not authenticate: no API token was found or it was "
                         f"refused; {no_token}") from None
    with atomic_folder(destination) as staging:
        try:
            kaggle.api.dataset_download_files(AUDIOMNIST_KAGGLE, path=str(staging), unzip=True,
                                              quiet=False)
        except Exception as error:
            raise DataError(f"downloading {AUDIOMNIST_KAGGLE} from Kaggle failed ({error})") from None
    return destination


@dataclass(frozen=True)
class DatasetSource:
    """Where a dataset's folder comes from and how it is split by default."""

    name: str
    default_split: str
    env_var: str | None
    download: Callable[[Path], Path] | None
    description: str

    def resolve_folder(self, data_dir: str | Path | None) -> Path:
        """The folder to read: `--data-dir`, else the environment variable, else
        `dataset/<name>/` (downloaded there first if missing)."""
        origin = "--data-dir"
        if data_dir is None and self.env_var and os.environ.get(self.env_var):
            data_dir, origin = os.environ[self.env_var], f"${self.env_var}"
        if data_dir is not None:
            folder = Path(data_dir).expanduser()
            if not folder.is_dir():
                raise UsageError(f"data folder {folder} (from {origin}) does not exist; point it at "
                                 f"a folder of {{digit}}_{{speaker}}_{{take}}.wav files")
            return folder
        if self.download is None:
            raise UsageError(f"dataset '{self.name}' needs --data-dir: a folder of "
                             "{digit}_{speaker}_{take}.wav files")
        folder = DATASET_ROOT / self.name
        return folder if folder.is_dir() else self.download(folder)


SOURCES = {
    source.name: source
    for source in (
        DatasetSource("fsdd", "takes", "FSDD_DIR", download_fsdd,
                      "Free Spoken Digit Dataset: 3000 clips, 8 kHz, 6 speakers"),
        DatasetSource("audiomnist", "speakers", "AUDIOMNIST_DIR", download_audiomnist,
                      "AudioMNIST (Kaggle): 30000 clips, 48 kHz, 60 speakers"),
        DatasetSource("folder", "random", None, None,
                      "any folder of {digit}_{speaker}_{take}.wav"),
    )
}


def get_source(name: str) -> DatasetSource:
    if name not in SOURCES:
        raise UsageError(f"unknown dataset '{name}'; choose one of {sorted(SOURCES)}")
    return SOURCES[name]


def assign_split(clips: list[Clip], rule: str, test_takes: int, test_fraction: float,
                 seed: int) -> np.ndarray:
    """Which clips are test clips, by one of the `SPLITS` rules.

    - "takes": takes `0 .. test_takes - 1` of every speaker and digit (FSDD's official split);
    - "speakers": a seeded choice of `test_fraction` of the speakers, all their clips;
    - "random": a seeded `test_fraction` of the clips, stratified by digit.

    Returns:
        `[clip]` bool, True for test clips.

    Raises:
        UsageError: the rule leaves the training or the test split empty.
    """
    digits = np.array([clip.digit for clip in clips])
    speakers = np.array([clip.speaker for clip in clips])
    n_test = math.ceil(test_fraction * len(clips))
    try:
        if rule == "takes":
            is_test = np.array([clip.take < test_takes for clip in clips])
        elif rule == "speakers":
            from sklearn.model_selection import GroupShuffleSplit

            if len(set(speakers)) < 2:
                raise UsageError("split 'speakers' needs at least two speakers; use --split random")
            splitter = GroupShuffleSplit(n_splits=1, test_size=test_fraction, random_state=seed)
            _, test_index = next(splitter.split(digits, groups=speakers))
            is_test = np.isin(np.arange(len(clips)), test_index)
        elif rule == "random":
            from sklearn.model_selection import train_test_split

            counts = np.bincount(digits)[np.unique(digits)]
            # Stratifying needs two clips of each digit and a test share that holds every digit.
            stratify = digits if counts.min() >= 2 and n_test >= len(counts) else None
            _, test_index = train_test_split(np.arange(len(clips)), test_size=test_fraction,
                                             random_state=seed, stratify=stratify)
            is_test = np.isin(np.arange(len(clips)), test_index)
        else:
            raise UsageError(f"unknown split '{rule}'; choose one of {list(SPLITS)}")
    except ValueError as error:  # scikit-learn's word on a split it cannot make
        if isinstance(error, UsageError):
            raise
        raise UsageError(f"split '{rule}' cannot be made from these {len(clips)} clips "
                         f"({error}); add clips or choose another --split") from None
    check_split(is_test, rule)
    return is_test


def check_split(is_test: np.ndarray, rule: str) -> None:
    """Raise `UsageError` if either side of the split is empty."""
    if is_test.all() or not is_test.any():
        empty = "training" if is_test.all() else "test"
        raise UsageError(f"split '{rule}' leaves the {empty} split empty for these "
                         f"{len(is_test)} clips; choose another --split or --test-takes")
