"""File-name parsing, sources, splits, and the downloads (on local stand-ins)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import sys
import tarfile
import types

import numpy as np
import pytest

from conftest import write_tone
from spokendigits import datasets
from spokendigits.datasets import (Clip, assign_split, download_audiomnist, download_fsdd,
                                   find_clips, folder_digest, get_source, parse_clip_name)
from spokendigits.errors import DataError, UsageError


def test_parse_clip_name():
    assert parse_clip_name("dir/7_theo_42.wav") == Clip(datasets.Path("dir/7_theo_42.wav"), 7, "theo", 42)
    assert parse_clip_name("0_01_3.WAV").speaker == "01"
    assert parse_clip_name("3_theo_999999999.wav").take == 999_999_999  # the longest take
    for bad in ("10_theo_1.wav", "7_theo.wav", "7-theo-1.wav", "7_theo_x.wav", "7_theo_1.mp3",
                "7_the o_1.wav", "._7_theo_1.wav", "3_theo_100000000000000000000000.wav"):
        assert parse_clip_name(bad) is None, bad


def test_find_clips_lists_wavs_it_cannot_parse_and_ignores_other_files(tmp_path):
    write_tone(tmp_path / "sub" / "1_ann_0.wav")
    write_tone(tmp_path / "1_ann_1.wav")
    write_tone(tmp_path / "hello.wav")
    (tmp_path / "README.md").write_text("not audio")
    clips, skipped = find_clips(tmp_path)
    assert [clip.path.name for clip in clips] == ["1_ann_1.wav", "1_ann_0.wav"]
    assert skipped == [{"file": "hello.wav", "reason": "name is not {digit}_{speaker}_{take}.wav"}]


def make_clips(speakers=("a", "b", "c", "d", "e", "f"), takes=10):
    return [Clip(datasets.Path(f"{d}_{s}_{t}.wav"), d, s, t)
            for d in range(10) for s in speakers for t in range(takes)]


def test_split_by_takes_is_fsdds_official_split(fsdd_dir):
    clips, _ = find_clips(fsdd_dir)
    is_test = assign_split(clips, "takes", 5, 0.1, 0)
    assert (len(clips), is_test.sum()) == (3000, 300)
    assert all((clip.take < 5) == test for clip, test in zip(clips, is_test))


def test_split_by_speakers_keeps_each_speaker_on_one_side_and_follows_the_seed():
    clips = make_clips(speakers=[f"{i:02d}" for i in range(20)], takes=3)
    is_test = assign_split(clips, "speakers", 5, 0.1, seed=0)
    test_speakers = {c.speaker for c, t in zip(clips, is_test) if t}
    train_speakers = {c.speaker for c, t in zip(clips, is_test) if not t}
    assert len(test_speakers) == 2 and not test_speakers & train_speakers
    np.testing.assert_array_equal(is_test, assign_split(clips, "speakers", 5, 0.1, seed=0))
    others = [assign_split(clips, "speakers", 5, 0.1, seed=s) for s in range(1, 4)]
    assert any((other != is_test).any() for other in others)


def test_random_split_is_stratified_by_digit_and_follows_fraction_and_seed():
    clips = make_clips()
    is_test = assign_split(clips, "random", 5, 0.1, seed=0)
    digits = np.array([clip.digit for clip in clips])
    assert np.bincount(digits[is_test]).tolist() == [6] * 10
    assert assign_split(clips, "random", 5, 0.25, seed=0).sum() == 150
    assert (assign_split(clips, "random", 5, 0.1, seed=1) != is_test).any()


def test_small_sets_split_without_stratifying_or_say_why_they_cannot():
    twenty = make_clips(speakers=("a",), takes=2)  # 2 clips a digit: 2 test clips < 10 digits
    assert assign_split(twenty, "random", 5, 0.1, seed=0).sum() == 2
    with pytest.raises(UsageError, match="split 'random' cannot be made from these 1 clips"):
        assign_split(make_clips(speakers=("a",), takes=1)[:1], "random", 5, 0.1, seed=0)


def test_split_by_takes_follows_test_takes():
    clips = make_clips(takes=4)
    is_test = assign_split(clips, "takes", 2, 0.1, 0)
    assert all((clip.take < 2) == test for clip, test in zip(clips, is_test))


def test_a_split_that_leaves_a_side_empty_is_a_usage_error():
    with pytest.raises(UsageError, match="leaves the training split empty"):
        assign_split(make_clips(takes=3), "takes", 5, 0.1, 0)
    with pytest.raises(UsageError, match="at least two speakers"):
        assign_split(make_clips(speakers=("a",)), "speakers", 5, 0.1, 0)
    with pytest.raises(UsageError, match="unknown split"):
        assign_split(make_clips(), "halves", 5, 0.1, 0)


def test_pinned_fsdd_digest_matches_the_recordings(fsdd_dir):
    assert folder_digest(fsdd_dir / "recordings") == datasets.FSDD_RECORDINGS_SHA256


def build_fsdd_archive(tmp_path):
    """A tar.gz laid out as GitHub's archive of the FSDD repository, with three clips."""
    source = tmp_path / "source"
    for name in ("0_theo_0.wav", "1_theo_0.wav", "2_lucas_3.wav"):
        write_tone(source / name, frequency=300 + len(name))
    archive = tmp_path / "fsdd.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        top = f"free-spoken-digit-dataset-{datasets.FSDD_COMMIT}"
        tar.addfile(tarfile.TarInfo(f"{top}/README.md"), io.BytesIO(b""))
        for path in source.iterdir():
            tar.add(path, f"{top}/recordings/{path.name}")
    return archive, folder_digest(source)


def test_download_fsdd_from_an_archive_checks_the_digest(tmp_path):
    archive, digest = build_fsdd_archive(tmp_path)
    folder = download_fsdd(tmp_path / "dataset" / "fsdd", url=archive.as_uri(), sha256=digest)
    assert sorted(p.name for p in (folder / "recordings").iterdir()) == \
        ["0_theo_0.wav", "1_theo_0.wav", "2_lucas_3.wav"]
    assert sorted(p.name for p in (tmp_path / "dataset").iterdir()) == ["fsdd"]  # no leftovers


def test_download_fsdd_with_a_wrong_digest_keeps_nothing(tmp_path):
    archive, digest = build_fsdd_archive(tmp_path)
    wrong = hashlib.sha256(b"other").hexdigest()
    with pytest.raises(DataError, match="do not match the pinned checksum"):
        download_fsdd(tmp_path / "dataset" / "fsdd", url=archive.as_uri(), sha256=wrong)
    assert list((tmp_path / "dataset").iterdir()) == []


def test_download_fsdd_reports_damaged_archives_and_unreachable_urls(tmp_path):
    (tmp_path / "broken.tar.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(DataError, match="damaged"):
        download_fsdd(tmp_path / "fsdd", url=(tmp_path / "broken.tar.gz").as_uri(), sha256="0")
    with pytest.raises(DataError, match="could not download"):
        download_fsdd(tmp_path / "fsdd", url=(tmp_path / "missing.tar.gz").as_uri(), sha256="0")
    assert not (tmp_path / "fsdd").exists()


def test_resolve_folder_order_option_then_environment_then_download(tmp_path, monkeypatch):
    fsdd = get_source("fsdd")
    monkeypatch.setenv("FSDD_DIR", str(tmp_path))
    assert fsdd.resolve_folder(None) == tmp_path
    with pytest.raises(UsageError, match=r"from \$FSDD_DIR\) does not exist"):
        monkeypatch.setenv("FSDD_DIR", str(tmp_path / "nowhere"))
        fsdd.resolve_folder(None)
    with pytest.raises(UsageError, match=r"from --data-dir\) does not exist"):
        fsdd.resolve_folder(tmp_path / "nowhere")
    monkeypatch.delenv("FSDD_DIR")
    monkeypatch.setattr(datasets, "DATASET_ROOT", tmp_path / "dataset")
    fetched = []
    downloading = dataclasses.replace(fsdd, download=lambda folder: fetched.append(folder) or folder)
    assert downloading.resolve_folder(None) == tmp_path / "dataset" / "fsdd" == fetched[0]
    with pytest.raises(UsageError, match="needs --data-dir"):
        get_source("folder").resolve_folder(None)
    with pytest.raises(UsageError, match="unknown dataset 'mnist'"):
        get_source("mnist")


def fake_kaggle(monkeypatch, authenticate=lambda: None):
    """A stand-in for the kaggle package: it 'downloads' AudioMNIST's layout."""
    calls = []

    def dataset_download_files(dataset, path, unzip, quiet):
        calls.append(dataset)
        for speaker in ("01", "02"):
            for digit in range(2):
                write_tone(datasets.Path(path) / "data" / speaker / f"{digit}_{speaker}_0.wav",
                           sample_rate=48000)

    api = types.SimpleNamespace(authenticate=authenticate,
                                dataset_download_files=dataset_download_files)
    monkeypatch.setitem(sys.modules, "kaggle", types.SimpleNamespace(api=api))
    return calls


def test_download_audiomnist_goes_through_the_kaggle_api(tmp_path, monkeypatch):
    calls = fake_kaggle(monkeypatch)
    folder = download_audiomnist(tmp_path / "audiomnist")
    assert calls == ["sripaadsrinivasan/audio-mnist"]
    clips, skipped = find_clips(folder)
    assert sorted((c.digit, c.speaker) for c in clips) == [(0, "01"), (0, "02"), (1, "01"), (1, "02")]
    assert skipped == [] and [p.name for p in tmp_path.iterdir()] == ["audiomnist"]


def test_download_audiomnist_without_credentials_explains_what_to_do(tmp_path, monkeypatch):
    def refuse():
        raise SystemExit("no token")
    fake_kaggle(monkeypatch, authenticate=refuse)
    with pytest.raises(UsageError, match="Kaggle could not authenticate: no API token .*--data-dir"):
        download_audiomnist(tmp_path / "audiomnist")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setitem(sys.modules, "kaggle", None)  # as if not installed
    with pytest.raises(UsageError, match="pip install kaggle"):
        download_audiomnist(tmp_path / "audiomnist")


def test_a_kaggle_that_fails_at_import_is_a_usage_error(tmp_path, monkeypatch):
    package = tmp_path / "site" / "kaggle"  # kaggle 1.x raises as it is imported
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("raise OSError('Could not find kaggle.json')\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, "kaggle", raising=False)
    with pytest.raises(UsageError, match=r"Kaggle could not authenticate \(Could not find kaggle.json\)"):
        download_audiomnist(tmp_path / "audiomnist")
