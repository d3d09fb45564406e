"""Feature sets: FSDD end to end, bad inputs, saving and loading, the round trip."""

from __future__ import annotations

import json
import os
import pickle
import shutil

import numpy as np
import pytest

from conftest import write_tone
from spokendigits import audio
from spokendigits.metrics import spectral_convergence
from spokendigits.datasets import get_source
from spokendigits.errors import DataError, UsageError
from spokendigits.features import (FORMAT_VERSION, FeatureConfig, FeatureSet, Featurizer, analyse,
                                   extract)
from spokendigits.storage import load_pickle, save_pickle


@pytest.fixture
def fsdd_features(fsdd_feature_set):
    return fsdd_feature_set


def test_fsdd_feature_set(fsdd_features, fsdd_dir):
    features, config = fsdd_features, fsdd_features.config
    assert (config.sample_rate, config.n_fft, config.hop_length, config.split) == (8000, 256, 64, "takes")
    assert features.features.shape == (3000, 129, config.n_frames)
    assert features.features.dtype == np.float32 and config.n_frames % 16 == 0
    summary = dict(features.summary, seconds=None, cut_share=None)
    assert summary == {"clips": 3000, "train": 2700, "test": 300, "skipped": 0, "resampled": 0,
                       "mixed_down": 0, "cut_share": None, "seconds": None,
                       "shape": [3000, 129, config.n_frames]}
    assert 0.01 < features.summary["cut_share"] <= 0.05  # quantile 0.95, rounded up to frames
    np.testing.assert_array_equal(features.is_test, features.takes < 5)
    assert sorted(set(features.speakers)) == ["george", "jackson", "lucas", "nicolas", "theo",
                                              "yweweler"]
    assert np.bincount(features.digits).tolist() == [300] * 10
    train = features.features[features.split_mask("train")]
    np.testing.assert_allclose(train.mean(axis=(0, 2)), 0, atol=1e-3)  # training statistics
    np.testing.assert_allclose(train.std(axis=(0, 2)), 1, atol=1e-3)
    index = features.files.index("recordings/5_jackson_20.wav")
    assert (features.digits[index], features.speakers[index], features.takes[index]) == (5, "jackson", 20)
    waveform = audio.load_wav(fsdd_dir / features.files[index], 8000)
    np.testing.assert_allclose(features.featurizer.representation.features(waveform[None])[0],
                               features.features[index], atol=1e-4)


def test_workers_do_not_change_the_result(tone_folder):
    inline = extract(get_source("folder"), tone_folder, workers=1)
    parallel = extract(get_source("folder"), tone_folder, workers=2)
    np.testing.assert_array_equal(inline.features, parallel.features)
    np.testing.assert_array_equal(inline.is_test, parallel.is_test)
    assert inline.files == parallel.files and inline.name == parallel.name


def test_save_and_load_round_trip_and_name_follows_settings(tone_folder, tmp_path):
    features = extract(get_source("folder"), tone_folder, FeatureConfig(phase=True), workers=1)
    path = features.save(tmp_path)
    assert path.name == f"{features.name}.pkl" and path.name.startswith("folder-")
    loaded = FeatureSet.load(path)
    for name in ("features", "phase", "digits", "speakers", "takes", "is_test"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(features, name))
    assert loaded.config == features.config and loaded.files == features.files
    assert loaded.summary == features.summary and loaded.skipped == features.skipped
    np.testing.assert_array_equal(loaded.featurizer.scaling.mean, features.featurizer.scaling.mean)
    other = extract(get_source("folder"), tone_folder, FeatureConfig(n_fft=512), workers=1)
    assert other.name != features.name


def test_name_follows_the_file_list(tone_folder):
    before = extract(get_source("folder"), tone_folder, workers=1)
    (tone_folder / "0_ann_5.wav").rename(tone_folder / "0_cat_5.wav")
    after = extract(get_source("folder"), tone_folder, workers=1)
    assert after.config == before.config and after.name != before.name


def test_settings_reach_the_analysis(tone_folder):
    features = extract(get_source("folder"), tone_folder, FeatureConfig(log_floor=1e-2), workers=1)
    log_magnitudes = features.featurizer.scaling.invert(features.features)
    assert log_magnitudes.min() == pytest.approx(np.log(1e-2), abs=1e-4)  # padding is silence
    by_takes = extract(get_source("folder"), tone_folder, FeatureConfig(split="takes", test_takes=2),
                       workers=1)
    np.testing.assert_array_equal(by_takes.is_test, by_takes.takes < 2)


def test_clip_length_comes_from_training_clips_only(tmp_path):
    for digit in range(10):
        for take in range(10):  # takes 0-4 are test clips, and much longer
            write_tone(tmp_path / f"{digit}_ann_{take}.wav", seconds=1.0 if take < 5 else 0.3)
    config = extract(get_source("folder"), tmp_path, FeatureConfig(split="takes"), workers=1).config
    assert 0.3 <= config.clip_seconds < 0.5


def test_loading_refuses_crafted_and_foreign_files(tmp_path):
    import os

    class Exploit:
        def __reduce__(self):
            return os.system, (f"touch {tmp_path / 'ran'}",)

    (tmp_path / "crafted.pkl").write_bytes(pickle.dumps({"format": "spokendigits-featureset",
                                                         "features": Exploit()}))
    with pytest.raises(DataError, match="could run code"):
        FeatureSet.load(tmp_path / "crafted.pkl")
    assert not (tmp_path / "ran").exists()
    save_pickle(tmp_path / "other.pkl", {"weights": np.zeros(3)})
    with pytest.raises(DataError, match="not a feature set"):
        FeatureSet.load(tmp_path / "other.pkl")
    save_pickle(tmp_path / "partial.pkl", {"format": "spokendigits-featureset",
                                           "version": FORMAT_VERSION})
    with pytest.raises(DataError, match="damaged feature set \\(it lacks dataset, digits, "):
        FeatureSet.load(tmp_path / "partial.pkl")
    with pytest.raises(UsageError, match="is a folder"):
        FeatureSet.load(tmp_path)


def test_an_older_format_asks_to_make_the_feature_set_again(tmp_path):
    # Format 2 pickled numpy's own arrays, which a crafted file can turn into a crash.
    (tmp_path / "fsdd-67a12987.pkl").write_bytes(pickle.dumps(
        {"format": "spokendigits-featureset", "version": 2, "features": np.zeros((2, 3))},
        protocol=5))
    with pytest.raises(DataError, match="older versions of this project.*make it again with "
                                        "`python codes/features.py` \\(the same settings give "
                                        "the same name\\)"):
        FeatureSet.load(tmp_path / "fsdd-67a12987.pkl")


def test_loading_checks_every_fields_type_and_shape(tone_folder, tmp_path):
    feature_set = extract(get_source("folder"), tone_folder, workers=1)
    payload = load_pickle(feature_set.save(tmp_path))
    clips = len(feature_set.files)
    config = dict(payload["featurizer"]["config"])
    damages = {
        "features is list": {"features": [[0.0]]},
        "features or phase are not float32": {"features": payload["features"].astype(np.float64)},
        f"features is float32 \\({clips}, 129, 47\\), not \\({clips}, 129, 48\\)":
            {"features": payload["features"][..., :-1]},
        "phase is str": {"phase": "radians"},
        "digits is float64": {"digits": payload["digits"].astype(float)},
        "digits outside 0-9": {"digits": payload["digits"] + 10},
        "speakers is int64": {"speakers": np.zeros(clips, int)},
        "is_test is int64": {"is_test": payload["is_test"].astype(int)},
        "durations is float32 \\(1,\\)": {"durations": payload["durations"][:1]},
        "files is not a list of paths": {"files": "wavs"},
        f"features is float32 \\({clips}, 129, 48\\), not \\({clips - 1},":
            {"files": payload["files"][1:]},
        "dataset is not a name": {"dataset": 3},
        "skipped is not a list of records": {"skipped": ["x"]},
        "summary is not a dict": {"summary": []},
        "the scaling mean does not have 129": {"featurizer": {
            **payload["featurizer"], "scaling": {"mean": [0.0], "std": [1.0]}}},
        "sample_rate='8000' should be int": {"featurizer": {
            **payload["featurizer"], "config": {**config, "sample_rate": "8000"}}},
        "string indices must be integers|TypeError": {"featurizer": "settings"},
    }
    for problem, change in damages.items():
        save_pickle(tmp_path / "damaged.pkl", {**payload, **change})
        with pytest.raises(DataError, match=f"damaged feature set \\(.*({problem})"):
            FeatureSet.load(tmp_path / "damaged.pkl")
    assert FeatureSet.load(feature_set.save(tmp_path)).name == feature_set.name


def test_loading_checks_the_format_version_and_resolved_settings(tone_folder, tmp_path):
    path = extract(get_source("folder"), tone_folder, workers=1).save(tmp_path)
    payload = load_pickle(path)
    save_pickle(tmp_path / "future.pkl", dict(payload, version=FORMAT_VERSION + 1))
    with pytest.raises(DataError, match=f"format {FORMAT_VERSION + 1}, this code reads {FORMAT_VERSION}"):
        FeatureSet.load(tmp_path / "future.pkl")
    payload["featurizer"]["config"]["n_fft"] = None
    save_pickle(tmp_path / "unresolved.pkl", payload)
    with pytest.raises(DataError, match="not resolved"):
        FeatureSet.load(tmp_path / "unresolved.pkl")


def test_bad_files_are_skipped_listed_and_counted(tone_folder):
    write_tone(tone_folder / "3_cid_0.wav", channels=2, frequency=600)
    write_tone(tone_folder / "4_cid_0.wav", sample_rate=16000, frequency=700)
    write_tone(tone_folder / "nested" / "notes.wav")
    (tone_folder / "5_cid_0.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEgarbage")
    shutil.copy(tone_folder / "1_ann_0.wav", tone_folder / "6_cid_0.wav")
    with open(tone_folder / "6_cid_0.wav", "r+b") as file:  # a valid header with no samples
        file.truncate(44)
    write_tone(tone_folder / "7_cid_0.wav", seconds=0.01)  # 10 ms: no digit is that short
    shutil.copy(tone_folder / "1_ann_0.wav", tone_folder / "8_cid_0.wav")
    with open(tone_folder / "8_cid_0.wav", "r+b") as file:  # a 100-byte wav: 28 samples
        file.truncate(100)
    features = extract(get_source("folder"), tone_folder, workers=2)
    reasons = {record["file"]: record["reason"] for record in features.skipped}
    assert set(reasons) == {"nested/notes.wav", "5_cid_0.wav", "6_cid_0.wav", "7_cid_0.wav",
                            "8_cid_0.wav"}
    assert reasons["7_cid_0.wav"] == "10 ms long, shorter than the 50 ms any spoken digit takes"
    assert reasons["8_cid_0.wav"].endswith("shorter than the 50 ms any spoken digit takes")
    assert reasons["nested/notes.wav"].startswith("name is not")
    assert reasons["5_cid_0.wav"].startswith("unreadable wav")
    assert reasons["6_cid_0.wav"] == "empty wav (no samples)"
    summary = features.summary
    assert (summary["clips"], summary["skipped"], summary["resampled"], summary["mixed_down"]) == \
        (122, 5, 1, 1)
    stereo = features.files.index("3_cid_0.wav")
    mono = audio.load_wav(tone_folder / "3_cid_0.wav", 8000)  # the mean of the channels
    np.testing.assert_allclose(features.featurizer.representation.features(mono[None])[0],
                               features.features[stereo], atol=1e-4)


def test_folders_without_usable_clips_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="holds no wav named"):
        extract(get_source("folder"), tmp_path)
    (tmp_path / "0_ann_0.wav").write_bytes(b"")
    write_tone(tmp_path / "speech.wav")
    with pytest.raises(UsageError, match="holds no usable wav: 2 skipped: .*0_ann_0.wav: unreadable wav"):
        extract(get_source("folder"), tmp_path)


def test_audiomnist_layout_is_resampled_and_split_by_speaker(tmp_path):
    for speaker in range(1, 11):
        for digit in range(10):
            write_tone(tmp_path / f"{speaker:02d}" / f"{digit}_{speaker:02d}_0.wav", seconds=0.1,
                       sample_rate=48000, frequency=200 + 50 * digit)
    features = extract(get_source("audiomnist"), tmp_path, workers=2)
    config = features.config
    assert (config.sample_rate, config.n_fft, config.split) == (22050, 1024, "speakers")
    assert features.summary["resampled"] == 100
    test_speakers = set(features.speakers[features.is_test])
    assert len(test_speakers) == 1 and not test_speakers & set(features.speakers[~features.is_test])


def test_feature_round_trip_through_griffin_lim(fsdd_features):
    featurizer = fsdd_features.featurizer
    analysis, features = featurizer.representation, fsdd_features.features[:8]
    waveforms = analysis.waveforms(features, n_iter=64)
    assert waveforms.shape == (8, featurizer.config.clip_samples)
    rebuilt = np.exp(analyse(waveforms, featurizer.config)[0])
    assert spectral_convergence(analysis.magnitude(features), rebuilt) < 0.08
    restored = Featurizer.from_dict(json.loads(json.dumps(featurizer.to_dict())))
    assert restored.config == featurizer.config
    np.testing.assert_allclose(restored.representation.waveforms(features[:1], n_iter=4),
                               analysis.waveforms(features[:1], n_iter=4))


def test_stored_phase_inverts_exactly(tone_folder):
    features = extract(get_source("folder"), tone_folder, FeatureConfig(phase=True), workers=1)
    config, index = features.config, 5
    spectrogram = features.featurizer.representation.magnitude(features.features[index]) * \
        np.exp(1j * features.phase[index])
    original = audio.fit_length(audio.load_wav(tone_folder / features.files[index], 8000),
                                config.clip_samples)
    np.testing.assert_allclose(audio.inverse_stft(spectrogram, config.hop_length, config.clip_samples),
                               original, atol=1e-4)


def test_feature_sets_keep_each_clips_duration(tone_folder):
    feature_set = extract(get_source("folder"), tone_folder, workers=1)
    takes = feature_set.takes
    np.testing.assert_allclose(feature_set.durations, 0.2 + 0.02 * takes, atol=1e-4)
    kept = feature_set.subset(takes == 3)
    assert kept.durations.shape == (20,) and np.allclose(kept.durations, 0.26, atol=1e-4)


def test_settings_out_of_range_are_usage_errors():
    for settings, message in [
            ({"sample_rate": 100}, "sample_rate must be 1000 to 384000 Hz"),
            ({"clip_seconds": 5000.0}, "clip_seconds must be more than 0 and at most 3600"),
            ({"clip_seconds": float("nan")}, "clip_seconds must be more than 0"),
            ({"clip_seconds": float("inf")}, "clip_seconds must be more than 0"),
            ({"log_floor": float("inf")}, "log_floor must be positive and finite"),
            ({"frame_multiple": 5000}, "frame_multiple must be 1 to 1024")]:
        with pytest.raises(UsageError, match=message):
            FeatureConfig(**settings)


def test_too_many_workers_or_too_large_features_fail_before_the_work(tone_folder):
    import multiprocessing
    import time

    with pytest.raises(UsageError, match="--workers must be at least 1 and at most"):
        extract(get_source("folder"), tone_folder, workers=10**6)
    before = set(multiprocessing.active_children())
    huge = FeatureConfig(clip_seconds=3000.0, n_fft=65536, hop_length=16)  # terabytes
    with pytest.raises(UsageError, match="would take [0-9.]+ GiB, more than this machine's"):
        extract(get_source("folder"), tone_folder, huge, workers=2)
    deadline = time.monotonic() + 10  # the error stopped the workers; none is left waiting
    while set(multiprocessing.active_children()) - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not set(multiprocessing.active_children()) - before


def _die_in_a_worker(item):
    os._exit(1)  # as the out-of-memory killer would end it


def test_a_worker_that_dies_is_an_error_not_a_hang():
    from spokendigits.features import _map, _worker_pool

    with pytest.raises(DataError, match="worker process died while testing"):
        with _worker_pool(2) as pool:
            list(_map(_die_in_a_worker, [1, 2, 3], pool, 1, "testing", "item"))


@pytest.mark.parametrize("damage, message", [
    (lambda payload: payload["features"].__setitem__((0, 0, 0), np.nan), "features holds NaN"),
    (lambda payload: payload["features"].__setitem__((1, 2, 3), 1e30), "features holds NaN"),
    (lambda payload: payload["featurizer"]["scaling"]["std"].__setitem__(4, 0.0),
     "scaling statistics"),
    (lambda payload: payload["featurizer"]["scaling"]["std"].__setitem__(4, np.nan),
     "scaling statistics"),
], ids=["NaN", "1e30", "std 0", "std NaN"])
def test_feature_values_are_checked_at_load_and_save_naming_file_and_field(
        small_feature_set, tmp_path, damage, message):
    import dataclasses

    from spokendigits.errors import DataError
    from spokendigits.features import FORMAT, FORMAT_VERSION, FeatureSet
    from spokendigits.storage import save_pickle

    payload = {field.name: getattr(small_feature_set, field.name)
               for field in dataclasses.fields(small_feature_set)}
    payload["features"] = payload["features"].copy()
    payload["featurizer"] = small_feature_set.featurizer.to_dict()
    payload["featurizer"]["scaling"] = {key: np.array(value, np.float32) for key, value in
                                        payload["featurizer"]["scaling"].items()}
    damage(payload)
    path = tmp_path / "damaged.pkl"
    save_pickle(path, {"format": FORMAT, "version": FORMAT_VERSION, **payload})
    with pytest.raises(DataError, match=message) as refused:
        FeatureSet.load(path)
    assert str(path) in str(refused.value)
    if "features" in message:  # the same values are never written by save either
        damaged = dataclasses.replace(small_feature_set, features=payload["features"])
        with pytest.raises(DataError, match=message):
            damaged.save(tmp_path / "out")
        assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
