"""ORGAN run configuration: generator, discriminator, the three training stages and the reward.

Loaded from TOML with :func:`molgen.config.load_config` (bounds checked where they enter)::

    seed = 0
    [generator]      # embedding -> LSTM/GRU -> softmax
    [discriminator]  # CNN preset "seqgan" (the paper's 12 widths) or "small" or "custom"
    [mle]            # stage 1: teacher-forced pretraining
    [dpretrain]      # stage 2: discriminator on real vs generated
    [adversarial]    # stage 3: SeqGAN/ORGAN policy gradient with MC rollouts (estimator = "gumbel": see [gumbel])
    [professor]      # optional professor forcing during [mle] (molgen.organ.professor)
    [gumbel]         # the Gumbel-softmax estimator's temperature schedule (molgen.organ.gumbel)
    [reward]         # R = lambda * D + (1 - lambda) * O, O a weighted mix of objectives (molgen.scoring)
    [reward.memory]  # optional diversity filter: O of molecules (or scaffolds) found often -> penalty
    [leakgan]        # with [generator] architecture = "leakgan": manager/worker sizes, horizon, interleaved MLE
    objectives = [{name = "qed", weight = 1.0, transform = {kind = "ramp", low = 0.5, high = 0.9}}]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from molgen.config import SEED_BOUNDS
from molgen.masking.codec import CONSTRAINTS
from molgen.precision import PRECISIONS
from molgen.scoring.aggregate import AGGREGATES
from molgen.scoring.spec import MemoryConfig, ObjectiveSpec

#: SeqGAN's discriminator (Yu et al. 2017): filter widths and the number of filters of each width.
SEQGAN_FILTERS: tuple[tuple[int, ...], tuple[int, ...]] = (
    (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20),
    (100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160),
)
#: A CPU-sized discriminator with the same shape (several widths, fewer filters).
SMALL_FILTERS: tuple[tuple[int, ...], tuple[int, ...]] = (
    (1, 2, 3, 4, 5, 6, 8, 10),
    (32, 64, 64, 64, 64, 32, 32, 32),
)
#: upper bounds on sizes, checked before anything is allocated (a config or checkpoint asking for
#: ``max_len = 10**9`` is refused, not a 40 GB allocation); far above any useful model
MAX_WIDTH, MAX_LAYERS, MAX_LEN = 8192, 16, 5000

DISCRIMINATOR_PRESETS = {"seqgan": SEQGAN_FILTERS, "small": SMALL_FILTERS}

#: Named lambda presets: SeqGAN is the discriminator alone, naive RL the objectives alone.
MODE_LAMBDA = {"seqgan": 1.0, "naive_rl": 0.0}


@dataclass
class GeneratorConfig:
    """Symbol embedding -> recurrent layers -> linear to symbol logits.

    ``symbols = "tokens"``: SMILES tokens, free (the ORGAN of the papers). ``symbols = "rules"``:
    production rules of ``grammar`` (a Kekulé grammar), every step masked by its machine
    (``constraints = "semantic"``: rings, valences and length too, so every sample is a molecule).
    """

    cell: str = field(default="lstm", metadata={"choices": ("lstm", "gru")})
    #: "rnn": embedding -> ``cell`` layers -> logits; "leakgan": the LeakGAN manager/worker of
    #: :mod:`molgen.organ.leakgan` (an LSTM worker; the manager reads D's features, see ``[leakgan]``)
    architecture: str = field(default="rnn", metadata={"choices": ("rnn", "leakgan")})
    embedding_size: int = field(default=64, metadata={"ge": 1, "le": MAX_WIDTH})
    hidden_size: int = field(default=256, metadata={"ge": 1, "le": MAX_WIDTH})
    num_layers: int = field(default=2, metadata={"ge": 1, "le": MAX_LAYERS})
    dropout: float = field(default=0.0, metadata={"ge": 0, "lt": 1})
    max_len: int = field(default=100, metadata={"ge": 2, "le": MAX_LEN})  # symbols including the end (EOS, or the padding rule)
    symbols: str = field(default="tokens", metadata={"choices": ("tokens", "rules")})
    grammar: str = "kekule"  # with symbols = "rules"
    constraints: str = field(default="semantic", metadata={"choices": CONSTRAINTS})  # with symbols = "rules"

    RENAMED: ClassVar[dict[str, str]] = {"embed_dim": "embedding_size"}


@dataclass
class DiscriminatorConfig:
    """CNN over token embeddings: several filter widths, max-over-time, highway, dropout, one score."""

    preset: str = field(default="seqgan", metadata={"choices": ("seqgan", "small", "custom")})
    filter_widths: list[int] | None = None  # only with preset = "custom"
    filter_counts: list[int] | None = None  # only with preset = "custom"
    embedding_size: int = field(default=64, metadata={"ge": 1, "le": MAX_WIDTH})
    dropout: float = field(default=0.25, metadata={"ge": 0, "lt": 1})
    loss: str = field(default="bce", metadata={"choices": ("bce", "wasserstein")})
    wgan_constraint: str = field(default="gp", metadata={"choices": ("clip", "gp")})
    clip_value: float = field(default=0.01, metadata={"gt": 0})
    gp_weight: float = field(default=10.0, metadata={"ge": 0})
    lr: float = field(default=1e-4, metadata={"gt": 0})
    l2: float = field(default=0.0, metadata={"ge": 0})
    #: what D reads: the generator's symbols, or (rules only) the SMILES tokens of each derivation
    input: str = field(default="symbols", metadata={"choices": ("symbols", "smiles")})

    RENAMED: ClassVar[dict[str, str]] = {"embed_dim": "embedding_size"}

    def validate(self) -> None:
        custom = self.filter_widths is not None or self.filter_counts is not None
        if self.preset == "custom":
            if self.filter_widths is None or self.filter_counts is None:
                raise ValueError("preset 'custom' needs both filter_widths and filter_counts")
            if len(self.filter_widths) != len(self.filter_counts) or not self.filter_widths:
                raise ValueError("filter_widths and filter_counts must be non-empty lists of the same length")
            if min(self.filter_widths) < 1 or min(self.filter_counts) < 1:
                raise ValueError("filter widths and counts must be >= 1")
            if max(self.filter_widths) > MAX_LEN or max(self.filter_counts) > MAX_WIDTH:
                raise ValueError(f"filter widths must be <= {MAX_LEN} and counts <= {MAX_WIDTH}")
        elif custom:
            raise ValueError(f"filter_widths/filter_counts are only allowed with preset = 'custom' (preset is {self.preset!r})")

    def filters(self) -> tuple[list[int], list[int]]:
        """(widths, counts) after resolving the preset."""
        if self.preset == "custom":
            return list(self.filter_widths or []), list(self.filter_counts or [])
        widths, counts = DISCRIMINATOR_PRESETS[self.preset]
        return list(widths), list(counts)


@dataclass
class MLEConfig:
    """Stage 1: maximum-likelihood pretraining of the generator with teacher forcing."""

    steps: int = field(default=2000, metadata={"ge": 0})
    batch_size: int = field(default=128, metadata={"ge": 1})
    lr: float = field(default=1e-3, metadata={"gt": 0})
    grad_clip: float = field(default=5.0, metadata={"gt": 0})
    val_fraction: float = field(default=0.01, metadata={"ge": 0, "lt": 0.5})
    eval_every: int = field(default=500, metadata={"ge": 1})
    #: "constant", or "cosine": lr decays from ``lr`` to ``lr_min`` over ``steps`` (a function of the
    #: step alone, so a resumed run follows the same schedule)
    lr_schedule: str = field(default="constant", metadata={"choices": ("constant", "cosine")})
    lr_min: float = field(default=1e-5, metadata={"ge": 0})
    #: start from the generator of another ORGAN checkpoint (its vocabulary too); ``steps`` more MLE
    #: steps then train on from it (0: fine-tune adversarially only; > 0: transfer learning, or
    #: teacher forcing / professor forcing continued). A LeakGAN run takes only the embedding and
    #: LSTM of a plain generator's checkpoint; its head and manager start fresh and learn in these steps.
    init_checkpoint: str | None = None


@dataclass
class DPretrainConfig:
    """Stage 2: discriminator pretraining on real vs generated sequences (fresh negatives each step)."""

    steps: int = field(default=20, metadata={"ge": 0})
    n_samples: int = field(default=1024, metadata={"ge": 2})
    epochs: int = field(default=2, metadata={"ge": 1})
    batch_size: int = field(default=128, metadata={"ge": 2})


@dataclass
class AdversarialConfig:
    """Stage 3: g-steps (sample, rollouts, REINFORCE) and d-steps, SeqGAN style."""

    steps: int = field(default=100, metadata={"ge": 0})
    batch_size: int = field(default=64, metadata={"ge": 2})
    rollouts: int = field(default=16, metadata={"ge": 1})
    rollout_chunk: int = field(default=1024, metadata={"ge": 1})  # completions per forward batch (cache-sized on CPU)
    rollout_stride: int = field(default=1, metadata={"ge": 1})  # >1: roll out every k-th prefix only (CPU budget)
    g_steps: int = field(default=1, metadata={"ge": 1})
    g_lr: float = field(default=1e-4, metadata={"gt": 0})
    grad_clip: float = field(default=5.0, metadata={"gt": 0})
    d_steps: int = field(default=1, metadata={"ge": 0})
    d_epochs: int = field(default=1, metadata={"ge": 1})
    d_samples: int = field(default=256, metadata={"ge": 2})
    rollout_update: str = field(default="copy", metadata={"choices": ("copy", "ema")})
    rollout_ema: float = field(default=0.8, metadata={"ge": 0, "lt": 1})  # beta <- r*beta + (1-r)*theta
    baseline_decay: float = field(default=0.9, metadata={"ge": 0, "lt": 1})
    entropy_coef: float = field(default=0.0, metadata={"ge": 0})
    mle_mix: float = field(default=0.0, metadata={"ge": 0})  # optional teacher-forced NLL on real data per g-step
    #: the real molecules of that NLL: the best ``mle_mix_top`` fraction, by the run's per-molecule
    #: objectives, of ``mle_mix_pool`` training molecules (a seeded random subset; 0: all of them);
    #: 1: any training molecule. An anchor that agrees with the reward: it holds the policy near
    #: real molecules that already score well instead of near the whole training distribution
    mle_mix_top: float = field(default=1.0, metadata={"gt": 0, "le": 1})
    mle_mix_pool: int = field(default=20_000, metadata={"ge": 0})
    collapse_uniqueness: float = field(default=0.5, metadata={"ge": 0, "le": 1})
    collapse_patience: int = field(default=5, metadata={"ge": 1})
    stop_on_collapse: bool = False
    #: how D's term of the reward reaches G: "reinforce" (Monte-Carlo rollouts, SeqGAN/ORGAN) or
    #: "gumbel" (the Gumbel-softmax relaxation, [gumbel]; objectives keep a whole-sequence REINFORCE term)
    estimator: str = field(default="reinforce", metadata={"choices": ("reinforce", "gumbel")})


@dataclass
class ProfessorConfig:
    """Professor forcing (Lamb et al. 2016) during MLE: a discriminator on the generator's hidden-state
    sequences tells teacher-forced from free-running runs; G's loss = NLL + ``weight`` x the term that
    makes free-running look teacher-forced. Updates gated by D's accuracy on the batch, as in the paper."""

    enabled: bool = False
    weight: float = field(default=1.0, metadata={"ge": 0})
    hidden_size: int = field(default=128, metadata={"ge": 1, "le": MAX_WIDTH})  # D's bidirectional GRU, per direction
    mlp_size: int = field(default=128, metadata={"ge": 1, "le": MAX_WIDTH})
    #: D also reads each step's output distribution (softmax) beside the hidden state
    use_outputs: bool = False
    #: also the reverse term: make the teacher-forced run look free-running (the paper's optional term)
    reverse: bool = False
    lr: float = field(default=1e-4, metadata={"gt": 0})
    grad_clip: float = field(default=5.0, metadata={"gt": 0})
    #: no adversarial update of G while D's accuracy is below this (D near chance says nothing)
    g_threshold: float = field(default=0.75, metadata={"ge": 0, "le": 1})
    #: no update of D while its accuracy is above this (D near perfect would only saturate)
    d_threshold: float = field(default=0.99, metadata={"ge": 0, "le": 1})


@dataclass
class GumbelConfig:
    """The Gumbel-softmax estimator (``[adversarial] estimator = "gumbel"``): y = softmax((logits + g) / tau).

    tau follows ``schedule`` over the adversarial steps: "constant" (``tau_start``), "exponential"
    (tau_start x (tau_end / tau_start)^(step / anneal_steps): RelGAN's beta = 1/tau rising to 100 over
    5,000 steps is 1 -> 0.01 over 5000) or "linear"; tau stays at ``tau_end`` after ``anneal_steps``."""

    schedule: str = field(default="exponential", metadata={"choices": ("constant", "exponential", "linear")})
    tau_start: float = field(default=1.0, metadata={"gt": 0})
    tau_end: float = field(default=0.01, metadata={"gt": 0})
    anneal_steps: int = field(default=5000, metadata={"ge": 1})
    #: hard one-hot forward (what the next step is fed anyway), the soft gradient backward
    straight_through: bool = True
    #: G's loss from D's score: "log" (-log D, the non-saturating GAN loss) or "prob" (-D: the reward's
    #: own term, which saturates when D is sure); a Wasserstein critic always uses -score
    d_loss: str = field(default="log", metadata={"choices": ("log", "prob")})


@dataclass
class RewardConfig:
    """R(Y) = lambda * D(Y) + (1 - lambda) * O(Y); ``mode`` names SeqGAN (lambda=1) and naive RL (lambda=0)."""

    mode: str = field(default="organ", metadata={"choices": ("organ", "seqgan", "naive_rl")})
    lam: float | None = field(default=None, metadata={"ge": 0, "le": 1})
    divide_by_count: bool = True  # ORGAN's rule: a molecule's reward / its count in the batch
    n_jobs: int = field(default=1, metadata={"ge": 1})  # processes for RDKit objectives on big batches
    parallel_min: int = field(default=2000, metadata={"ge": 1})  # fewer new molecules than this: in-process
    #: a Dask cluster for the objectives (address or "local:N"): batches of >= parallel_min new SMILES go there
    scheduler: str | None = None
    cache_size: int = field(default=500_000, metadata={"ge": 0})
    reference_size: int = field(default=1000, metadata={"ge": 1})  # training sample for diversity
    memory: MemoryConfig = field(default_factory=MemoryConfig)  # diversity filter across steps (O only)
    #: how O combines the transformed objectives: weighted "arithmetic" (ORGAN) or "geometric" mean
    aggregate: str = field(default="arithmetic", metadata={"choices": AGGREGATES})

    def validate(self) -> None:
        from molgen.cluster import check_scheduler

        check_scheduler(self.scheduler)  # "local:0" / "local:x" fail when the config is read
        if self.mode in MODE_LAMBDA and self.lam is not None and self.lam != MODE_LAMBDA[self.mode]:
            raise ValueError(f"mode {self.mode!r} fixes lam = {MODE_LAMBDA[self.mode]}; remove lam or use mode = 'organ'")

    @property
    def weight_d(self) -> float:
        """The lambda actually used (mode preset, else ``lam``, else 0.5)."""
        if self.mode in MODE_LAMBDA:
            return MODE_LAMBDA[self.mode]
        return 0.5 if self.lam is None else self.lam


@dataclass
class LeakGANConfig:
    """LeakGAN (Guo et al. 2018), used with ``[generator] architecture = "leakgan"``: a manager LSTM
    reads D's feature vector of each prefix and emits a unit goal in feature space; the goals of the
    last ``horizon`` steps, summed and projected to ``goal_size``, weight the worker's output matrix."""

    goal_size: int = field(default=16, metadata={"ge": 1, "le": MAX_WIDTH})  # k: the worker's O_t is (symbols x k)
    manager_hidden_size: int = field(default=128, metadata={"ge": 1, "le": MAX_WIDTH})
    horizon: int = field(default=4, metadata={"ge": 1, "le": MAX_LEN})  # c: goals summed, and f_{t+c} - f_t
    #: interleaved MLE (the paper's remedy for mode collapse): after every ``mle_every`` adversarial
    #: steps, ``mle_steps`` teacher-forced batches (worker NLL + manager cosine to real feature moves); 0: never
    mle_every: int = field(default=5, metadata={"ge": 0})
    mle_steps: int = field(default=1, metadata={"ge": 1})
    #: bootstrapped rescaled activation: per step, the manager's Q is replaced by
    #: sigmoid(delta * (rank / B - 0.5)) of its rank in the batch (else Q - baseline)
    rescale: bool = True
    rescale_delta: float = field(default=16.0, metadata={"gt": 0})


@dataclass
class OrganConfig:
    """A whole ORGAN run; ``objectives`` only matter when lambda < 1."""

    seed: int = field(default=0, metadata=SEED_BOUNDS)
    torch_threads: int = field(default=0, metadata={"ge": 0})  # 0 = leave torch's default
    #: "bf16": autocast for the generator, rollouts and discriminator (fp32 weights and optimizer
    #: state); "auto": bf16 where the CPU/GPU runs it natively (molgen.precision); see the README
    precision: str = field(default="fp32", metadata={"choices": PRECISIONS})
    log_every: int = field(default=1, metadata={"ge": 1})
    checkpoint_every: int = field(default=200, metadata={"ge": 1})
    max_molecules: int = field(default=0, metadata={"ge": 0})  # use only the first N input molecules (0: all)
    #: a wall-clock budget for the whole run (0: none): the sum of its steps' seconds, kept across
    #: resumes; when spent, the run checkpoints and ends (exit 0) where it is, and ``--resume`` with a
    #: larger budget goes on. For comparisons at equal time; the step reached is in the checkpoint.
    max_minutes: float = field(default=0.0, metadata={"ge": 0})
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    mle: MLEConfig = field(default_factory=MLEConfig)
    dpretrain: DPretrainConfig = field(default_factory=DPretrainConfig)
    adversarial: AdversarialConfig = field(default_factory=AdversarialConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    leakgan: LeakGANConfig = field(default_factory=LeakGANConfig)
    professor: ProfessorConfig = field(default_factory=ProfessorConfig)
    gumbel: GumbelConfig = field(default_factory=GumbelConfig)
    objectives: list[ObjectiveSpec] = field(default_factory=lambda: [ObjectiveSpec("validity", 1.0)])

    RENAMED: ClassVar[dict[str, str]] = {"max_train_molecules": "max_molecules"}

    def validate(self) -> None:
        if self.discriminator.input == "smiles" and self.generator.symbols != "rules":
            raise ValueError("discriminator.input = 'smiles' is for generator.symbols = 'rules' "
                             "(tokens are SMILES tokens already)")
        if self.generator.architecture == "leakgan" and (self.generator.cell != "lstm" or self.discriminator.input != "symbols"):
            raise ValueError("generator.architecture = 'leakgan' needs generator.cell = 'lstm' and "
                             "discriminator.input = 'symbols' (the manager reads D's features of the generator's own prefixes)")
        if self.adversarial.estimator == "gumbel" and self.discriminator.input == "smiles":
            raise ValueError("adversarial.estimator = 'gumbel' needs discriminator.input = 'symbols': D must read "
                             "the generator's own symbols (a soft one-hot over rules has no SMILES-token form)")
        if self.reward.weight_d < 1.0 and not self.objectives:
            raise ValueError("lambda < 1 needs at least one entry in objectives")
        if self.adversarial.mle_mix_top < 1.0 and (self.adversarial.mle_mix == 0 or self.reward.weight_d >= 1.0):
            raise ValueError("adversarial.mle_mix_top < 1 chooses the molecules of the mle_mix term by the run's "
                             "objectives: it needs mle_mix > 0 and lambda < 1")
        widths, _ = self.discriminator.filters()
        if max(widths) > self.generator.max_len:
            raise ValueError(f"widest discriminator filter ({max(widths)}) exceeds generator.max_len ({self.generator.max_len})")
        if self.reward.memory.kind != "none" and self.reward.weight_d >= 1.0:
            raise ValueError("reward.memory scales the objectives O, which lambda = 1 (SeqGAN) does not use; "
                             "remove [reward.memory] or lower lambda")
        if self.reward.weight_d < 1.0:
            from molgen.scoring.components import check_objectives  # late: components import RDKit

            check_objectives(self.objectives)

