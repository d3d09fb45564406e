"""The listening page: type digits, pick a model, hear it and see it (`codes/serve.py`).

A `Voices` holds every model the page offers, each loaded once and shared by all
requests: the bundled models and any run folders named at start. `make_server` serves
the page and its API (docs/serve.md) on the standard library's threading HTTP server,
so the page needs nothing beyond what inference needs, starts as fast, and works
offline (the page is one file, with no CDN):

- `GET /`: the page (`page.html` beside this module);
- `GET /api/models`: the models and their options, as JSON;
- `GET /api/speak?digits=1234&model=vae&seed=0`: `audio/wav`, the bytes that
  `inference.py "1234" --model vae --seed 0` writes; also `temperature`, `iterations`,
  `sampler` and `speaker`, with the command line's defaults and limits;
- `GET /api/spectrogram?...`: the same query's spectrogram, as a PNG.

Bad input is status 400 and `{"error": "..."}` with the command line's message; an
unknown model is 404. At most `workers` syntheses run at once; a request that waits
longer than `QUEUE_SECONDS` for its turn gets 503. The command line's limits (100
digits and pauses, 1000 Griffin-Lim iterations) bound a synthesis's time.
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import struct
import threading
import traceback
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from . import audio, cli
from .errors import DataError, UsageError
from .flow import DEFAULT_GUIDANCE, DEFAULT_STEPS, MAX_GUIDANCE, MAX_STEPS, check_flow_sampling
from .runs import Run
from .sampling import SAMPLERS
from .synthesis import (DEFAULT_MODEL, MAX_ITERATIONS, MAX_TEMPERATURE, MAX_TOKENS,
                        Synthesizer, bundled_models, bundled_run, check_sampling,
                        parse_digits)

PAGE = Path(__file__).with_name("page.html")
QUEUE_SECONDS = 30.0       # the longest a request waits for a free synthesis before a 503
CACHED = 64                # spoken strings kept, so the spectrogram reuses the speech
SPECTROGRAM_DB = 80.0      # the loudest 80 dB, as the project's figures show
# Magma-like colours from silence to the loudest bin: black, purple, red, orange, pale yellow.
COLOURS = np.array([[0, 0, 4], [81, 18, 124], [183, 55, 121], [252, 137, 97],
                    [252, 253, 191]], np.float64)


class NotFound(UsageError):
    """A request for a model the server does not offer."""


class Busy(DataError):
    """Every synthesis slot stayed busy: the request may be sent again."""


@dataclass(frozen=True)
class Query:
    """One request to speak: what `inference.py` takes, checked as it checks it."""

    digits: str
    model: str
    seed: int = 0
    temperature: float = 1.0
    iterations: int = 64
    sampler: str | None = None
    speaker: str | None = None
    guidance: float | None = None   # a flow model's (`flow`); None: its default
    steps: int | None = None

    @classmethod
    def parse(cls, query: str) -> Query:
        """The query of a URL (`digits=1234&model=vae`); UsageError names a bad field with
        the command line's message."""
        fields = {key: values[-1]
                  for key, values in parse_qs(query, keep_blank_values=True).items()}
        unknown = sorted(set(fields) - set(cls.__dataclass_fields__))
        if unknown:
            raise UsageError(f"unknown parameter(s) {unknown}; use "
                             f"{sorted(cls.__dataclass_fields__)}")
        if "digits" not in fields:
            raise UsageError("give the digits to speak: digits=1234")
        sampler = fields.get("sampler") or None
        if sampler is not None and sampler not in SAMPLERS:  # as argparse words it
            raise UsageError(f"argument --sampler: invalid choice: {sampler!r} (choose from "
                             f"{', '.join(map(repr, SAMPLERS))})")
        parse_digits(fields["digits"])
        query = cls(digits=fields["digits"], model=fields.get("model", DEFAULT_MODEL),
                    seed=_number(cli.seed, fields, "seed", 0),
                    temperature=_number(cli.finite_float, fields, "temperature", 1.0),
                    iterations=_number(cli.int_in(0, MAX_ITERATIONS), fields, "iterations", 64),
                    sampler=sampler, speaker=fields.get("speaker") or None,
                    guidance=_number(cli.finite_float, fields, "guidance", None),
                    steps=_number(cli.int_in(1, MAX_STEPS), fields, "steps", None))
        check_sampling(query.temperature, query.iterations)
        check_flow_sampling(DEFAULT_GUIDANCE if query.guidance is None else query.guidance,
                            query.steps or DEFAULT_STEPS)
        return query


def _number(parse: Callable[[str], Any], fields: dict[str, str], name: str, default: Any) -> Any:
    """`fields[name]` read by an argparse type of `cli`, or `default` where it is absent."""
    if name not in fields or fields[name] == "":
        return default
    try:
        return parse(fields[name])
    except argparse.ArgumentTypeError as error:  # the command line's own words
        raise UsageError(f"{name}: {error}") from None


class Voices:
    """The models a page offers, by name, each loaded once (`Synthesizer`) and shared."""

    def __init__(self, runs: list[Path] = (), bundled: bool = True, workers: int = 2):
        self.synthesizers: dict[str, Synthesizer] = {}
        for name in bundled_models() if bundled else []:
            self.synthesizers[name] = Synthesizer(Run.open(bundled_run(name)))
        for folder in runs:
            run = Run.open(folder)
            if run.name in self.synthesizers:
                raise UsageError(f"two models are named {run.name!r} ({folder}); copy the run "
                                 "to a folder of another name")
            self.synthesizers[run.name] = Synthesizer(run)
        if not self.synthesizers:
            raise UsageError("no model to offer: give a run folder with --run")
        self.turns = threading.BoundedSemaphore(workers)
        self._speak = functools.lru_cache(CACHED)(self._speak_now)

    def describe(self) -> list[dict[str, Any]]:
        """What `GET /api/models` answers: each model's name, label and options."""
        return [{"name": name, "label": synthesizer.run.label, "run": synthesizer.run.name,
                 "sample_rate": synthesizer.sample_rate,
                 "samplers": list(synthesizer.samplers), "sampler": synthesizer.default_sampler,
                 "speakers": list(synthesizer.run.speakers)  # where --speaker is accepted
                 if synthesizer.model.speaker_conditional or not synthesizer.model.conditional
                 else [],
                 "default": name == DEFAULT_MODEL}
                for name, synthesizer in self.synthesizers.items()]

    def limits(self) -> dict[str, Any]:
        return {"digits": MAX_TOKENS, "temperature": MAX_TEMPERATURE,
                "iterations": MAX_ITERATIONS, "seed": cli.MAX_SEED, "guidance": MAX_GUIDANCE,
                "steps": MAX_STEPS, "default_guidance": DEFAULT_GUIDANCE,
                "default_steps": DEFAULT_STEPS}

    def speak(self, query: Query) -> tuple[np.ndarray, bytes]:
        """The waveform and wav bytes of `query`, as `inference.py` would write them."""
        if query.model not in self.synthesizers:
            raise NotFound(f"no model {query.model!r}; choose one of {list(self.synthesizers)}")
        return self._speak(query)

    def spectrogram(self, query: Query) -> bytes:
        """A PNG of the spoken query's log-magnitude STFT: time across, frequency up."""
        waveform, _ = self.speak(query)
        config = self.synthesizers[query.model].run.featurizer.config
        return spectrogram_png(waveform, config.n_fft, config.hop_length)

    def _speak_now(self, query: Query) -> tuple[np.ndarray, bytes]:
        synthesizer = self.synthesizers[query.model]
        if not self.turns.acquire(timeout=QUEUE_SECONDS):
            raise Busy(f"every synthesis slot was busy for {QUEUE_SECONDS:g} s; try again")
        try:
            waveform = synthesizer.speak(
                parse_digits(query.digits), query.speaker, query.seed, query.temperature,
                query.iterations, query.sampler, **synthesizer.flow_options(
                    query.sampler, guidance=query.guidance, steps=query.steps))
        finally:
            self.turns.release()
        return waveform, audio.wav_bytes(waveform, synthesizer.sample_rate)


def spectrogram_png(waveform: np.ndarray, n_fft: int, hop_length: int, height: int = 2) -> bytes:
    """A PNG of `[sample]` audio's STFT in dB (the loudest `SPECTROGRAM_DB`), low
    frequencies at the bottom, each bin `height` pixels tall."""
    magnitude = np.abs(audio.stft(np.asarray(waveform, np.float32)[None], n_fft, hop_length))[0]
    db = 20 * np.log10(np.maximum(magnitude, 1e-10))
    level = np.clip((db - db.max()) / SPECTROGRAM_DB + 1, 0, 1)[::-1]
    stops = np.linspace(0, 1, len(COLOURS))
    rgb = np.stack([np.interp(level, stops, COLOURS[:, channel]) for channel in range(3)], -1)
    return png(np.repeat(rgb.round().astype(np.uint8), height, axis=0))


def png(rgb: np.ndarray) -> bytes:
    """`[row, column, 3]` uint8 pixels as PNG bytes (8-bit RGB, no filter)."""
    rows, columns, _ = rgb.shape

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + \
            struct.pack(">I", zlib.crc32(kind + data))

    scanlines = b"".join(b"\x00" + row.tobytes() for row in np.ascontiguousarray(rgb))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", columns, rows, 8, 2,
                                                              0, 0, 0)) + \
        chunk(b"IDAT", zlib.compress(scanlines, 6)) + chunk(b"IEND", b"")


class Handler(BaseHTTPRequestHandler):
    """Answers the page's requests from the server's `voices`."""

    server: Server
    timeout = 30  # seconds a client may take to send its request

    def do_GET(self) -> None:  # the standard library's name
        url = urlsplit(self.path)
        routes = {"/": self._page, "/api/models": self._models, "/api/speak": self._wav,
                  "/api/spectrogram": self._spectrogram}
        try:
            if url.path not in routes:
                raise NotFound(f"no page {url.path}; the page is /")
            routes[url.path](url.query)
        except ConnectionError:
            pass  # the client left (a new Speak cancels the last one's picture): nobody to answer
        except NotFound as error:
            self._json({"error": str(error)}, HTTPStatus.NOT_FOUND)
        except UsageError as error:
            self._json({"error": str(error)}, HTTPStatus.BAD_REQUEST)
        except Busy as error:
            self._json({"error": str(error)}, HTTPStatus.SERVICE_UNAVAILABLE,
                       {"Retry-After": "5"})
        except DataError as error:
            self._json({"error": str(error)}, HTTPStatus.INTERNAL_SERVER_ERROR)
        except Exception:  # a bug: the client still gets an answer, the log the traceback
            traceback.print_exc()
            self._json({"error": "internal error (the server's log has the traceback)"},
                       HTTPStatus.INTERNAL_SERVER_ERROR)

    def _not_allowed(self) -> None:
        self._json({"error": f"{self.command} is not served: use GET"},
                   HTTPStatus.METHOD_NOT_ALLOWED, {"Allow": "GET"})

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = _not_allowed

    def _page(self, query: str) -> None:
        self._send(PAGE.read_bytes(), "text/html; charset=utf-8")

    def _models(self, query: str) -> None:
        self._json({"models": self.server.voices.describe(),
                    "limits": self.server.voices.limits()})

    def _wav(self, query: str) -> None:
        spoken = Query.parse(query)
        name = re.sub(r"[^A-Za-z0-9._-]", "_", f"{spoken.model}-{spoken.digits}") + ".wav"
        self._send(self.server.voices.speak(spoken)[1], "audio/wav",
                   {"Content-Disposition": f'inline; filename="{name}"'})

    def _spectrogram(self, query: str) -> None:
        self._send(self.server.voices.spectrogram(Query.parse(query)), "image/png")

    def _json(self, data: Any, status: HTTPStatus = HTTPStatus.OK,
              headers: dict[str, str] | None = None) -> None:
        self._send(json.dumps(data).encode(), "application/json", headers, status)

    def _send(self, body: bytes, kind: str, headers: dict[str, str] | None = None,
              status: HTTPStatus = HTTPStatus.OK) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)


class Server(ThreadingHTTPServer):
    """A threading HTTP server holding the `Voices` its handlers share."""

    daemon_threads = True
    request_queue_size = 64  # connections waiting to be accepted (a burst from a Compare)

    def __init__(self, address: tuple[str, int], voices: Voices, verbose: bool = False):
        super().__init__(address, Handler)
        self.voices, self.verbose = voices, verbose


def make_server(voices: Voices, host: str = "127.0.0.1", port: int = 8000,
                verbose: bool = False) -> Server:
    """The page's server on `host:port` (port 0: any free one), not yet serving; UsageError
    where the address cannot be taken."""
    try:
        return Server((host, port), voices, verbose)
    except OSError as error:
        raise UsageError(f"cannot serve on {host}:{port} ({error.strerror or error}); choose "
                         "another --port, or stop what uses it") from None
