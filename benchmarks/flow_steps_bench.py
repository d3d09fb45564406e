"""How many steps a flow's sampling needs: the ODE's error and time by solver and steps.

    python benchmarks/flow_steps_bench.py --run output/runs/latent-flow-ab36809b
    python benchmarks/flow_steps_bench.py --run output/runs/spectrogram-flow-RUN

A spectrogram flow's refiner (Euler alone, `flow.refine`) is measured the same
way on the spectrograms it makes of 10 drafts of each digit, drawn as it draws
them, against 256 steps.

For 30 latents of each digit from seeded noise, at the default guidance, each
solver's result at 4 to 64 steps is compared with Heun's at 256 steps (the
reference): each latent's root mean square distance to its reference, over the
latents' own spread (the median and the 90th percentile over latents), and the
seconds one call takes. A few latents start near the border of two voices and
end in the other at any step count (their error stays near 1): the median is
the integration's accuracy. This measures the integration alone; nothing here
hears or judges a clip. `flow.DEFAULT_STEPS` and `DEFAULT_SOLVER` are the
cheapest setting whose median error is about 1% of the spread.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "codes"))


def main() -> None:
    from spokendigits.flow import DEFAULT_GUIDANCE, SOLVERS, integrate
    from spokendigits.models import build_condition
    from spokendigits.runs import Run
    from spokendigits.synthesis import Synthesizer

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True, help="a latent-flow run folder")
    parser.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE)
    args = parser.parse_args()

    synthesizer = Synthesizer(Run.open(args.run))
    if synthesizer.refiner is not None:
        return refiner_steps(synthesizer, args.run)
    if synthesizer.velocity is None:
        sys.exit(f"{args.run} is not a flow run (it has no velocity.onnx)")
    digits = np.repeat(np.arange(10), 30)
    condition = build_condition(synthesizer.model, synthesizer.labels, digits, [None] * 300)
    noise = np.random.default_rng(0).standard_normal((300, synthesizer.model.latent_dim))
    reference = integrate(synthesizer.velocity, noise, condition, args.guidance, 256, "heun")
    spread = float(reference.std())
    rows = []
    for solver in SOLVERS:
        for steps in (4, 8, 16, 32, 64):
            started = time.perf_counter()
            latents = integrate(synthesizer.velocity, noise, condition, args.guidance, steps,
                                solver)
            seconds = time.perf_counter() - started
            errors = np.sqrt(np.mean((latents - reference) ** 2, axis=1)) / spread
            rows.append({"solver": solver, "steps": steps,
                         "median error / spread": float(np.median(errors)),
                         "90th percentile": float(np.quantile(errors, 0.9)),
                         "seconds (300 latents)": seconds})
    print(f"run {args.run.name}, guidance {args.guidance:g}; reference: Heun, 256 steps")
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".4f"))


def refiner_steps(synthesizer, run: Path) -> None:
    """The table of a spectrogram flow's refiner: Euler at 4 to 64 steps against 256."""
    from spokendigits.flow import refine

    refiner, synthesizer.refiner = synthesizer.refiner, None
    drafts = synthesizer.arrays(list(np.repeat(np.arange(10), 10)), seed=0)

    noise = np.random.default_rng(0).standard_normal(drafts.shape)

    def refined(steps: int) -> np.ndarray:
        return refine(refiner, drafts, noise, synthesizer.sampler.draft_noise, steps)

    reference = refined(256)
    spread = float(reference.std())
    rows = []
    for steps in (4, 8, 16, 32, 64):
        started = time.perf_counter()
        arrays = refined(steps)
        seconds = time.perf_counter() - started
        errors = np.sqrt(np.mean((arrays - reference) ** 2, axis=(1, 2, 3))) / spread
        rows.append({"solver": "euler", "steps": steps,
                     "median error / spread": float(np.median(errors)),
                     "90th percentile": float(np.quantile(errors, 0.9)),
                     "seconds (100 clips)": seconds})
    print(f"run {run.name}, the refiner; reference: Euler, 256 steps")
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".4f"))


if __name__ == "__main__":
    main()
