"""Families built on a trained VAE run: they name it (`vae_run`) and train on its posteriors.

The latent flow (`flow`) learns a prior over the VAE's latent; the sharpened
decoder (`sharpen`) fine-tunes its decoder with the encoder frozen, so the
latent codes stay put. Both read the VAE's last checkpoint: its encoder to
encode the training clips, its decoder, latent Gaussians or generator to start
from or to speak with.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DataError, UsageError
from .family import Family

if TYPE_CHECKING:
    from ..runs import Run
    from . import ModelConfig


class OnVAE(Family):
    """A family whose runs name a trained VAE run (`vae_run`) and share its latent."""

    VAE_RUN_HELP = ("latent-flow, sharpened-vae, spectrogram-flow, pitch: the trained VAE run "
                    "folder it builds on (relative to the project's root, or absolute)")

    def label_parts(self, config: "ModelConfig") -> list[str]:
        return [f"on {Path(config.vae_run).name}"]

    @staticmethod
    def folder(run_setting: str) -> Path:
        """The folder a run setting names: relative to the project's root, or absolute."""
        from ..datasets import PROJECT_ROOT

        folder = Path(run_setting).expanduser()
        return folder if folder.is_absolute() else PROJECT_ROOT / folder

    def vae(self, config: "ModelConfig") -> "Run":
        """The VAE run `config.vae_run` names, checked to fit `config`.

        Raises:
            UsageError: none named, no such run, not a VAE with its encoder, or another
                latent size or conditioning than `config`'s.
        """
        from ..runs import Run
        from . import FAMILIES

        if not config.vae_run:
            raise UsageError(f"a {self.name} run needs vae_run: the VAE run folder it builds on")
        folder = self.folder(config.vae_run)
        if not (folder / "config.json").is_file():
            raise UsageError(f"vae_run {config.vae_run}: no run folder there; train the VAE "
                             "first (codes/train.py) and name its folder")
        vae = Run.open(folder)
        if not FAMILIES[vae.model.family].has_encoder or not vae.checkpoints or \
                not vae.has_encoder(None):
            raise UsageError(f"vae_run {config.vae_run} is not a trained VAE run with its "
                             "encoder (an exported copy has none); name the run folder that "
                             "codes/train.py made")
        mismatched = [name for name in ("latent_dim", "conditional", "speaker_conditional")
                      if getattr(vae.model, name) != getattr(config, name)]
        if mismatched:
            raise UsageError(f"the {self.name}'s {', '.join(mismatched)} must be the VAE's: "
                             + ", ".join(f"{name} {getattr(vae.model, name)}"
                                         for name in mismatched))
        return vae

    def run_of_the_vae(self, config: "ModelConfig", setting: str, family: str) -> "Run":
        """The run that `config`'s `setting` names, checked to be a trained `family` run of
        `config`'s VAE.

        Raises:
            UsageError: no run there, or not a trained `family` run of that VAE.
        """
        from ..runs import Run

        named = getattr(config, setting)
        folder = self.folder(named)
        run = Run.open(folder) if (folder / "config.json").is_file() else None
        if run is None or run.model.family != family or not run.checkpoints or \
                self.folder(run.model.vae_run).resolve() != self.vae(config).folder.resolve():
            raise UsageError(f"{setting} {named} is not a trained {family} run of the "
                             f"{self.name}'s VAE ({config.vae_run})")
        return run

    def posteriors(self, config: "ModelConfig", features: np.ndarray, representation: Any,
                   digits: np.ndarray, speakers: np.ndarray) -> np.ndarray:
        """`[clip, 2 * latent]` the VAE's posterior of each clip, means then log-variances,
        from its last checkpoint's encoder.

        Raises:
            DataError: the VAE was trained on another feature set than `representation`'s.
        """
        vae = self.vae(config)
        if vae.representation.to_dict() != representation.to_dict():
            raise DataError(f"vae_run {config.vae_run} was trained on another feature set "
                            f"(its scaling differs); train on the VAE's "
                            f"({vae.config['feature_set']})")
        from .vae import VAEFamily

        mean, log_var = VAEFamily.predict(vae, None, "encoder", features, digits, speakers)
        return np.concatenate([mean, log_var], axis=1).astype(np.float32)


class OnVAEClips(OnVAE):
    """A family built on a VAE run that trains on the clips and the VAE's posterior of each."""

    def model_arrays(self, config: "ModelConfig", features: np.ndarray,
                     phase: np.ndarray | None, representation: Any, digits: np.ndarray,
                     speakers: np.ndarray) -> dict[str, np.ndarray]:
        """The clips and the VAE's posterior of each (`OnVAE.posteriors`)."""
        return {"features": features,
                "posterior": self.posteriors(config, features, representation, digits,
                                             speakers)}


class OnPrior(OnVAEClips):
    """A family that finishes a VAE's spectrograms (`models.refine`, `models.pitch`): it
    trains on the clips and the VAE's posteriors, and speaks from z drawn by a latent flow
    of the VAE (`prior_run`) or, without one, by the VAE's fitted Gaussians. Its
    checkpoints copy that prior's generator and sampler files, and add their own entry to
    its `sampler.json`."""

    PRIOR_RUN_HELP = ("spectrogram-flow, pitch: a latent-flow run of the same VAE whose flow "
                      "draws the z of the spectrograms it finishes (default: the VAE's fitted "
                      "Gaussians)")

    def samplers(self, config: "ModelConfig") -> tuple[str, ...]:
        """The prior's: "flow" with a latent flow, else the VAE's Gaussians'."""
        from ..sampling import offered_samplers

        return ("flow",) if config.prior_run else offered_samplers(config.conditional, True)

    def label_parts(self, config: "ModelConfig") -> list[str]:
        return super().label_parts(config) + \
            [f"prior {Path(config.prior_run).name}"] * bool(config.prior_run)

    def build(self, config: "ModelConfig", feature_shape: tuple[int, ...], condition_dim: int,
              seed: int, training: Any = None, representation: Any = None) -> Any:
        return self.network().build(config, feature_shape, seed, training, self.vae(config))

    def callbacks(self, config: "ModelConfig", folder: Path, data: dict, tensorboard: bool,
                  representation: Any) -> list[Any]:
        """Each epoch's median step time, and previews (`preview`) of one training clip of
        each digit."""
        from .flow_network import StepTimes

        train = data["train"]
        first = [np.flatnonzero(train.digits == digit)[0] for digit in range(10)]
        return [StepTimes(), self.preview(folder, representation, {
            name: array[first] for name, array in train.inputs.items() if name != "features"},
            data)]

    def preview(self, folder: Path, representation: Any, inputs: dict[str, np.ndarray],
                data: dict) -> Any:
        """The network module's `Preview` callback of `inputs` (the clips' posteriors)."""
        return self.network().Preview(folder, representation, inputs)

    def prior(self, config: "ModelConfig") -> "Run":
        """The run whose generator and sampler draft at inference: `prior_run`, checked to
        be a latent flow of the VAE speaking through its own decoder, or else the VAE.

        Raises:
            UsageError: `prior_run` is no run, or not a latent flow of this VAE.
        """
        if not config.prior_run:
            return self.vae(config)
        prior = self.run_of_the_vae(config, "prior_run", "latent-flow")
        if prior.model.decoder_run:
            raise UsageError(f"prior_run {config.prior_run} speaks through a sharpened decoder; "
                             f"a {self.name} run finishes its VAE's own spectrograms")
        return prior

    def write_prior(self, config: "ModelConfig", staging: Path, **entry: Any) -> None:
        """Into checkpoint folder `staging`: the prior's generator and the files its sampler
        names, copied from its last checkpoint, and `sampler.json`, the prior's (read whole
        first) with this family's `entry` (`sampling.sampler_file`'s `refiner` or `pitch`)."""
        import shutil

        from ..sampling import read_sampler, sampler_file
        from ..storage import read_json, write_json

        source = self.prior(config).checkpoint(None)
        read_sampler(source, config.latent_dim)  # whole, or DataError
        drawn = read_json(source / "sampler.json")
        sampler = sampler_file(config.latent_dim, drawn.get("gaussians"), flow=drawn.get("flow"),
                               **entry)
        for name in ("generator.onnx", sampler.get("gaussians"), sampler.get("flow")):
            if name:
                shutil.copyfile(source / name, staging / name)
        write_json(staging / "sampler.json", sampler)
