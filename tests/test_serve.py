"""The listening page's server: its API answers as the command line does, shares its
models between concurrent requests, and the page works in a real headless Chromium."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile

from conftest import ROOT
from spokendigits.errors import UsageError
from spokendigits.server import Query, Voices, make_server, png
from spokendigits.synthesis import DEFAULT_MODEL, MAX_TOKENS, bundled_models, bundled_run

ARTIFACTS = Path(os.environ.get("SPOKENDIGITS_ARTIFACTS", ROOT / "output" / "test-artifacts"))


@dataclass
class Served:
    url: str
    voices: Voices


@contextlib.contextmanager
def serving(voices: Voices):
    """`voices` served on a free port in a thread, while the block runs."""
    server = make_server(voices, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(f"http://127.0.0.1:{server.server_address[1]}", voices)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The bundled models and a run folder, two syntheses at a time."""
    run = shutil.copytree(bundled_run("gan"), tmp_path_factory.mktemp("runs") / "my-gan")
    with serving(Voices([run], workers=2)) as served:
        yield served


def get(url: str, method: str = "GET", headers: dict | None = None) -> tuple[int, str, bytes]:
    """Status, content type and body of a request, errors included; `headers` receives the
    response's headers."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method),
                                    timeout=120) as response:
            (headers if headers is not None else {}).update(response.headers)
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        (headers if headers is not None else {}).update(error.headers)
        return error.code, error.headers["Content-Type"], error.read()


def test_the_models_are_the_bundled_ones_and_the_runs_given(server):
    status, kind, body = get(f"{server.url}/api/models")
    assert (status, kind) == (200, "application/json")
    answer = json.loads(body)
    models = {model["name"]: model for model in answer["models"]}
    assert set(models) == {*bundled_models(), "my-gan"}
    assert [name for name, model in models.items() if model["default"]] == [DEFAULT_MODEL]
    assert models["flow"]["samplers"] == ["flow"] and models["flow"]["sampler"] == "flow"
    assert models["vae"]["samplers"] == ["prior", "digit", "mixture"]
    assert models["vae"]["sampler"] == "mixture" and models["gan"]["sampler"] == "prior"
    assert answer["limits"]["digits"] == MAX_TOKENS


def test_speech_is_the_bytes_inference_writes(server, tmp_path):
    status, kind, body = get(f"{server.url}/api/speak?digits=1234&model=vae&seed=0")
    assert (status, kind) == (200, "audio/wav")
    out = tmp_path / "1234.wav"
    subprocess.run([sys.executable, str(ROOT / "codes" / "inference.py"), "1234", "--model",
                    "vae", "--seed", "0", "--out", str(out)], check=True, capture_output=True)
    assert body == out.read_bytes()
    _, _, other = get(f"{server.url}/api/speak?digits=1234&model=vae&seed=1&sampler=digit")
    assert other != body and other[:4] == b"RIFF"


def test_a_flow_speaks_with_the_guidance_asked_as_inference_does(server, tmp_path):
    status, _, body = get(f"{server.url}/api/speak?digits=42&model=flow&seed=2&guidance=2&steps=8")
    assert status == 200
    out = tmp_path / "42.wav"
    subprocess.run([sys.executable, str(ROOT / "codes" / "inference.py"), "42", "--model",
                    "flow", "--seed", "2", "--guidance", "2", "--steps", "8", "--out", str(out)],
                   check=True, capture_output=True)
    assert body == out.read_bytes()
    assert get(f"{server.url}/api/speak?digits=42&model=flow&seed=2")[2] != body  # guidance 1


def test_the_spectrogram_is_a_png_of_the_speech(server):
    from PIL import Image

    from spokendigits.audio import stft

    status, kind, body = get(f"{server.url}/api/spectrogram?digits=12&model=gan&seed=0")
    assert (status, kind) == (200, "image/png")
    _, _, wav = get(f"{server.url}/api/speak?digits=12&model=gan&seed=0")
    speech, _ = soundfile.read(io.BytesIO(wav), dtype="float32")
    frames = stft(speech[None], 256, 64).shape[-1]
    picture = np.asarray(Image.open(io.BytesIO(body)))
    assert picture.shape == (2 * 129, frames, 3)  # two pixels a bin of n_fft 256, a frame a column
    silent = picture[:, :3].mean()  # the clip starts trimmed: sound, not the floor's black
    assert silent > 10


def test_bad_input_gets_the_command_lines_message(server, tmp_path):
    cases = {"digits=12a4&model=vae": "'12a4' has 'a' at position 3",
             f"digits={'1' * (MAX_TOKENS + 1)}": "too long",
             "digits=12&temperature=11": "temperature 11 must be 0 to 10",
             "digits=12&seed=-1": "seed: -1 is not in",
             "digits=12&seed=x": "seed: 'x' is not a whole number",
             "digits=12&model=gan&sampler=digit": "draws z from N(0, I) only",
             "digits=12&model=vae&speaker=theo": "conditioned on digits only",
             "model=vae": "give the digits",
             "digits=12&volume=3": "unknown parameter",
             "digits=": "give at least one digit to speak",
             "digits=12&sampler=best": "argument --sampler: invalid choice: 'best'",
             "digits=12&model=gan&guidance=2": "--guidance is for flow models",
             "digits=12&guidance=11": "guidance 11 must be 0 to 10",
             "digits=12&steps=0": "steps: 0 is not in"}
    for query, message in cases.items():
        status, kind, body = get(f"{server.url}/api/speak?{query}")
        assert (status, kind) == (400, "application/json"), query
        assert message in json.loads(body)["error"], query
    cli = subprocess.run([sys.executable, str(ROOT / "codes" / "inference.py"), "12a4",
                          "--out", str(tmp_path / "x.wav")], check=False, capture_output=True,
                         text=True)
    assert cli.returncode == 2
    assert json.loads(get(f"{server.url}/api/speak?digits=12a4")[2])["error"] in cli.stderr
    status, _, body = get(f"{server.url}/api/speak?digits=12&model=nobody")
    assert status == 404 and "choose one of" in json.loads(body)["error"]
    assert get(f"{server.url}/nowhere")[0] == 404
    headers = {}
    assert get(f"{server.url}/api/speak?digits=12", "POST", headers)[0] == 405
    assert headers["Allow"] == "GET"


def test_the_wav_is_named_for_its_model_and_digits(server):
    headers = {}
    get(f"{server.url}/api/speak?digits=1%202-3&model=gan", headers=headers)
    assert headers["Content-Disposition"] == 'inline; filename="gan-1_2-3.wav"'


def test_thirty_requests_at_once_are_all_answered_and_memory_stays_flat(server):
    import psutil

    queries = [f"digits={digit}{digit + 1}&model={model}&seed={seed}"
               for digit in range(5) for model in ("vae", "gan") for seed in range(3)]
    assert len(queries) == 30
    process = psutil.Process()

    def burst() -> list[tuple[int, str, bytes]]:
        with ThreadPoolExecutor(30) as pool:
            return list(pool.map(lambda query: get(f"{server.url}/api/speak?{query}"), queries))

    running, peak, count = 0, 0, threading.Lock()

    def counted(speak):
        def speak_counted(*args, **kwargs):
            nonlocal running, peak
            with count:
                running += 1
                peak = max(peak, running)
            try:
                return speak(*args, **kwargs)
            finally:
                with count:
                    running -= 1
        return speak_counted

    for synthesizer in server.voices.synthesizers.values():
        synthesizer.speak = counted(synthesizer.speak)
    try:
        first = burst()
    finally:
        for synthesizer in server.voices.synthesizers.values():
            del synthesizer.speak
    assert all(status == 200 for status, _, _ in first)
    assert peak == 2  # two at a time (workers=2), no more
    alone = get(f"{server.url}/api/speak?{queries[7]}")[2]
    assert first[7][2] == alone
    before = process.memory_info().rss
    for _ in range(2):  # new seeds each time, so nothing is answered from the cache
        queries = [query.replace("seed=", "seed=1") for query in queries]
        answers = burst()
        assert all(status == 200 and body[:4] == b"RIFF" for status, _, body in answers)
    grown = (process.memory_info().rss - before) / 2**20
    assert grown < 60, f"memory grew by {grown:.0f} MB over 60 requests"


def test_a_request_that_waits_too_long_gets_503(monkeypatch):
    import spokendigits.server as server_module

    monkeypatch.setattr(server_module, "QUEUE_SECONDS", 0.2)
    voices = Voices(workers=1)
    slow = voices.synthesizers["gan"].speak

    def speak_slowly(*args, **kwargs):
        time.sleep(1.5)
        return slow(*args, **kwargs)

    voices.synthesizers["gan"].speak = speak_slowly
    with serving(voices) as served, ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda seed: get(f"{served.url}/api/speak?digits=1&model=gan"
                                                 f"&seed={seed}"), (1, 2)))
    assert sorted(status for status, _, _ in answers) == [200, 503]
    busy = next(body for status, _, body in answers if status == 503)
    assert "busy" in json.loads(busy)["error"]


def test_queries_are_checked_before_any_synthesis():
    with pytest.raises(UsageError, match="iterations"):
        Query.parse("digits=1&iterations=100000")
    assert Query.parse("digits=1%202&seed=4") == Query("1 2", DEFAULT_MODEL, seed=4)
    assert Query.parse("digits=1&guidance=1.5&steps=8") == \
        Query("1", DEFAULT_MODEL, guidance=1.5, steps=8)


def test_png_holds_the_pixels_it_was_given():
    from PIL import Image

    pixels = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(png(pixels)))), pixels)


@pytest.mark.slow
def test_the_page_speaks_and_shows_errors_in_a_real_browser(server):
    """Headless Chromium (Debian's chromium and chromium-driver, which .ci/run installs)
    types "1234", presses Speak, waits for the audio and its spectrogram, then sees the
    error of "12a4"; a screenshot of a comparison is kept in output/test-artifacts."""
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_path):
        if os.environ.get("SPOKENDIGITS_REQUIRE_BROWSER"):
            pytest.fail("no chromium / chromedriver: apt-get install chromium chromium-driver")
        pytest.skip("no headless Chromium here (apt-get install chromium chromium-driver); "
                    ".ci/run installs it and requires this test")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                 "--window-size=1400,1000", "--autoplay-policy=no-user-gesture-required"):
        options.add_argument(flag)
    browser = webdriver.Chrome(options=options, service=Service(driver_path))
    wait = WebDriverWait(browser, 120)
    try:
        browser.get(server.url + "/")
        wait.until(lambda b: b.execute_script("return document.body.dataset.ready === 'true'"))
        box = browser.find_element(By.ID, "digits")
        box.clear()
        box.send_keys("1234")
        browser.find_element(By.ID, "speak").click()
        duration = wait.until(lambda b: b.execute_script(
            "const a = document.querySelector('#results audio');"
            "const i = document.querySelector('#results img');"
            "return a && a.duration > 0 && i && i.complete && i.naturalWidth > 0 && a.duration"))
        _, _, wav = get(f"{server.url}/api/speak?digits=1234&model={DEFAULT_MODEL}&seed=0"
                        "&temperature=1&guidance=1")  # the page's defaults
        assert duration == pytest.approx(soundfile.info(io.BytesIO(wav)).duration, abs=0.01)
        assert browser.find_element(By.ID, "error").text == ""
        box.clear()
        box.send_keys("12a4")
        browser.find_element(By.ID, "speak").click()
        wait.until(lambda b: "'12a4' has 'a' at position 3" in
                   b.find_element(By.ID, "error").text)
        box.clear()
        box.send_keys("0123456789")
        browser.find_element(By.ID, "compare").click()
        wait.until(lambda b: b.execute_script(
            "const cards = [...document.querySelectorAll('#results .result')];"
            f"return cards.length === {len(bundled_models()) + 1} &&"  # and the run given
            " cards.every(c => c.querySelector('audio') &&"
            " c.querySelector('img').complete && c.querySelector('img').naturalWidth > 0)"))
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        assert browser.save_screenshot(str(ARTIFACTS / "listening-page.png"))
    finally:
        browser.quit()


def test_the_command_refuses_a_taken_port_and_a_missing_run(server, tmp_path):
    port = server.url.rsplit(":", 1)[1]
    for arguments, code, message in (
            (["--port", port], 2, f"cannot serve on 127.0.0.1:{port}"),
            (["--port", "0", "--run", str(tmp_path / "nothing")], 2, "nothing"),
            (["--port", "70000"], 2, "70000 is not in 0..65535")):
        done = subprocess.run([sys.executable, str(ROOT / "codes" / "serve.py"), *arguments],
                              check=False, capture_output=True, text=True, timeout=120)
        assert done.returncode == code, (arguments, done.stderr)
        assert message in done.stderr and "Traceback" not in done.stderr, arguments
