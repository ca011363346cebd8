"""Configs of the VAE family (Grammar VAE and character VAE share them).

``VAEConfig`` is what a TOML file holds; it is validated where it enters
(:func:`molgen.config.load_config`) and stored in checkpoints as a plain dict, from
which :func:`from_checkpoint_dict` rebuilds it. The defaults are a small model that
trains usefully on two CPU cores; ``configs/gvae-paper.toml`` holds the paper's sizes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from molgen.config import SEED_BOUNDS, from_dict, quiet_renames
from molgen.precision import PRECISIONS

#: upper bounds on sizes, checked before anything is allocated (a config or a checkpoint naming
#: ``latent_size = 10**7`` is refused, not an out-of-memory kill); far above any useful model
MAX_WIDTH, MAX_LAYERS, MAX_LEN, MAX_BATCH = 8192, 16, 5000, 65536


@dataclass
class ModelConfig:
    """Encoder / decoder sizes.

    ``autoregressive`` feeds the previously chosen symbol back into the decoder GRU
    (teacher forcing in training) besides ``z``; with ``false`` the decoder sees only
    ``z`` at every step, as in the paper (and ``word_dropout`` does nothing).
    """

    latent_size: int = field(default=56, metadata={"ge": 1, "le": MAX_WIDTH})
    #: "conv": the paper's 1-D convolutions over the one-hot sequence; "gru": a bidirectional GRU
    #: over symbol embeddings (its two final states -> dense), which reads long sequences exactly
    #: and is what reconstruction needs; the conv_* settings are then unused
    encoder: str = field(default="conv", metadata={"choices": ("conv", "gru")})
    encoder_size: int = field(default=256, metadata={"ge": 1, "le": MAX_WIDTH})  # GRU encoder: hidden size per direction
    conv_channels: tuple[int, ...] = (9, 9, 10)
    conv_kernels: tuple[int, ...] = (9, 9, 11)
    dense_size: int = field(default=256, metadata={"ge": 1, "le": MAX_WIDTH})  # encoder dense layer
    decoder_input_size: int = field(default=56, metadata={"ge": 1, "le": MAX_WIDTH})  # z -> dense, fed at every decoder step
    hidden_size: int = field(default=256, metadata={"ge": 1, "le": MAX_WIDTH})  # decoder GRU
    num_layers: int = field(default=1, metadata={"ge": 1, "le": MAX_LAYERS})  # decoder GRU layers
    autoregressive: bool = True
    embedding_size: int = field(default=32, metadata={"ge": 1, "le": MAX_WIDTH})
    dropout: float = field(default=0.0, metadata={"ge": 0.0, "lt": 1.0})
    # training only: fraction of teacher-forced previous symbols replaced by a "blank" symbol,
    # so the autoregressive decoder has to use z (against posterior collapse; Bowman et al. 2016)
    word_dropout: float = field(default=0.3, metadata={"ge": 0.0, "le": 1.0})

    #: names used before the families' keys were aligned (still read, with a deprecation warning)
    RENAMED: ClassVar[dict[str, str]] = {"gru_size": "hidden_size", "gru_layers": "num_layers"}

    def validate(self) -> None:
        if len(self.conv_channels) != len(self.conv_kernels):
            raise ValueError("model.conv_channels and model.conv_kernels must have the same length")
        if not self.conv_channels:
            raise ValueError("model.conv_channels needs at least one layer")
        if min(self.conv_channels) < 1 or min(self.conv_kernels) < 1:
            raise ValueError("model.conv_channels and model.conv_kernels must be positive")
        if max(self.conv_channels) > MAX_WIDTH or max(self.conv_kernels) > MAX_LEN:
            raise ValueError(f"model.conv_channels must be <= {MAX_WIDTH} and model.conv_kernels <= {MAX_LEN}")


@dataclass
class TrainConfig:
    """Optimisation, schedule, validation and checkpointing of one run."""

    batch_size: int = field(default=128, metadata={"ge": 1, "le": MAX_BATCH})
    lr: float = field(default=1e-3, metadata={"gt": 0.0})
    epochs: int = field(default=10, metadata={"ge": 1})
    max_steps: int = field(default=0, metadata={"ge": 0})  # 0: no limit beyond epochs
    grad_clip: float = field(default=5.0, metadata={"gt": 0.0})
    val_fraction: float = field(default=0.02, metadata={"gt": 0.0, "lt": 1.0})
    val_max: int = field(default=2000, metadata={"ge": 1})  # validation molecules scored per evaluation
    val_every: int = field(default=500, metadata={"ge": 1})  # steps between validations (and at epoch ends)
    val_decode: int = field(default=128, metadata={"ge": 1})  # molecules decoded for recon/validity checks
    kl_weight: float = field(default=0.05, metadata={"ge": 0.0})  # final weight of the KL term
    kl_anneal_start: int = field(default=0, metadata={"ge": 0})  # step at which the KL weight starts rising
    kl_anneal_steps: int = field(default=2000, metadata={"ge": 0})  # steps from 0 to kl_weight (0: no annealing)
    free_bits: float = field(default=0.0, metadata={"ge": 0.0})  # nats per latent dimension not penalised
    lr_factor: float = field(default=0.5, metadata={"gt": 0.0, "lt": 1.0})  # ReduceLROnPlateau
    lr_patience: int = field(default=2, metadata={"ge": 0})  # validations without improvement before a cut
    min_lr: float = field(default=1e-5, metadata={"ge": 0.0})
    early_stop_patience: int = field(default=6, metadata={"ge": 1})  # validations without improvement
    max_len: int = field(default=0, metadata={"ge": 0, "le": MAX_LEN})  # sequence length; 0: from the data (x margin)
    #: max_len = longest training sequence x len_margin; 0: 1.1, or 1.25 with semantic constraints
    #: (whose length budget is conservative: the longest molecules need the room to pass the replay)
    len_margin: float = field(default=0.0, metadata={"ge": 0.0})
    tensorboard: bool = True
    # warm start: a gvae/cvae checkpoint whose weights (and grammar or vocabulary, and max_len)
    # the run starts from; optimizer, schedules and step start afresh. Same [model] sizes needed.
    init_checkpoint: str = ""


@dataclass
class VAEConfig:
    """A whole run: seed, grammar (Grammar VAE only), model sizes and training."""

    seed: int = field(default=0, metadata=SEED_BOUNDS)
    log_every: int = field(default=50, metadata={"ge": 1})  # steps between log.csv rows
    checkpoint_every: int = field(default=500, metadata={"ge": 1})  # steps between checkpoints/last.pt
    max_molecules: int = field(default=0, metadata={"ge": 0})  # use only the first N input molecules (0: all)
    #: a wall-clock budget (0: none): the sum of the training steps' seconds, kept across resumes;
    #: when spent the run checkpoints and ends (exit 0), and ``--resume`` with a larger one goes on
    max_minutes: float = field(default=0.0, metadata={"ge": 0})
    #: "bf16": mixed precision (bf16 products under autocast, fp32 weights and optimizer state);
    #: "auto": bf16 where the CPU/GPU runs it natively (molgen.precision); see the README
    precision: str = field(default="fp32", metadata={"choices": PRECISIONS})
    grammar: str = "kekule"  # grammar package name; ignored by the character VAE
    #: "semantic": rings, valence and length masked too (every decode a valid molecule; needs a Kekulé
    #: grammar); "grammar": the context-free mask alone; "auto": semantic for a Kekulé grammar
    constraints: str = field(default="auto", metadata={"choices": ("auto", "grammar", "semantic")})
    min_token_count: int = field(default=1, metadata={"ge": 1})  # character VAE vocabulary cut-off
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def resolved_constraints(self) -> str:
        """``constraints`` with "auto" resolved by the grammar (semantic for a Kekulé grammar)."""
        if self.constraints != "auto":
            return self.constraints
        from molgen.masking.tables import is_kekule_grammar

        return "semantic" if is_kekule_grammar(self.grammar) else "grammar"

    def len_margin(self, kind: str = "gvae") -> float:
        """The length margin actually used (see ``train.len_margin``); the character VAE has no constraints."""
        if self.train.len_margin:
            return self.train.len_margin
        return 1.25 if kind == "gvae" and self.resolved_constraints() == "semantic" else 1.1

    def validate(self) -> None:
        from molgen.masking.tables import is_kekule_grammar

        try:
            kekule = is_kekule_grammar(self.grammar)
        except ValueError as exc:  # grammar_text's "unknown grammar ..., choose one of ..."
            raise ValueError(f"grammar: {exc}") from None
        if self.constraints == "semantic" and not kekule:
            raise ValueError(f"constraints = 'semantic' needs a Kekulé grammar such as 'kekule', not {self.grammar!r}")

    #: run-level keys now at the top, as in every family (old places still read, with a warning)
    RENAMED: ClassVar[dict[str, str]] = {
        "train.log_every": "log_every", "train.checkpoint_every": "checkpoint_every",
        "train.max_molecules": "max_molecules",
    }


def from_checkpoint_dict(data: dict[str, Any], where: str = "checkpoint config") -> VAEConfig:
    """Rebuild the whole validated run config stored in a checkpoint (to resume training); ``where``
    names it in errors (out-of-bounds values are refused before anything is allocated)."""
    with quiet_renames():
        return from_dict(VAEConfig, data, where=where)


def model_config_from_checkpoint(data: dict[str, Any]) -> ModelConfig:
    """Only the ``[model]`` table of a checkpoint's config: what sampling needs.

    Loading a model for sampling never validates its training settings, so a training key
    renamed or retired later can never make an old checkpoint unloadable.
    """
    with quiet_renames():
        return from_dict(ModelConfig, data.get("model", {}), where="checkpoint config.model")
