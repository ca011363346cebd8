"""ORGAN training: MLE pretraining -> discriminator pretraining -> adversarial (SeqGAN/ORGAN) loop.

``molgen train organ --data FILE --config FILE.toml --out RUN_DIR`` calls :func:`train_from_options`.
Every stage is resumable: the checkpoint (``RUN_DIR/checkpoints/last.pt``) holds both networks,
the rollout copy, the optimizers, the symbols (vocabulary, or grammar and constraints), the config,
the stage and step, the command, versions and RNG states as plain types. Every step reseeds its random streams from
``(seed, stage, step)``, so a resumed run reproduces an uninterrupted one exactly.

One adversarial step (REINVENT's template): sample -> score (rollouts) -> update G -> update D ->
report -> check for mode collapse.

The generator's symbols (``[generator] symbols``: SMILES tokens, or production rules under the
semantic machine) are one object, :mod:`molgen.organ.symbols`; this loop is the same for both.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from molgen.checkpoint import load_checkpoint
from molgen.config import from_dict, load_toml, quiet_renames, to_dict
from molgen.errors import InputError, UsageError
from molgen.masking.codec import replay_ahead
from molgen.organ import gumbel
from molgen.organ.config import GeneratorConfig, MLEConfig, OrganConfig
from molgen.organ.discriminator import Discriminator
from molgen.organ.generator import GeneratorNet, lengths
from molgen.organ.leakgan import LeakGANObjective, build_leakgan
from molgen.organ.professor import ProfessorForcing
from molgen.organ.rewards import OrganReward
from molgen.organ.rollout import mc_rollout, reinforce_loss
from molgen.organ.symbols import (DiscriminatorInput, SymbolInput, Symbols, discriminator_input, symbols_from_checkpoint,
                                  symbols_from_data)
from molgen.precision import autocast, resolve_precision
from molgen.runtime import versions
from molgen.scoring.components import ObjectiveContext, registry_only
from molgen.scoring.memory import DiversityMemory
from molgen.scoring.scorer import ObjectiveScorer
from molgen.training.budget import budget_spent, log_budget_spent, spent_at_resume
from molgen.training.distributed import DistContext, start
from molgen.training.options import TrainOptions, check_resumed_data, data_record, read_training_smiles
from molgen.training.rng import capture_rng, derive_seed, restore_rng, set_seed
from molgen.training.rundir import RunDir, resolve_config
from molgen.training.runlog import CSVLogger, GracefulInterrupt

log = logging.getLogger(__name__)

STAGES = ("mle", "dpretrain", "adversarial", "done")
_STAGE_ID = {s: i for i, s in enumerate(STAGES)}
#: Columns of log.csv (one schema for all stages; a stage leaves the others blank).
BASE_COLUMNS = [
    "step", "stage", "stage_step", "seconds", "lr", "mle_loss", "val_nll", "d_loss", "d_acc", "pg_loss", "reward",
    "d_reward", "objective", "baseline", "entropy", "validity", "uniqueness", "int_div", "mean_length",
    "n_rollouts", "t_policy", "t_reward", "collapsed",
]
#: Columns a LeakGAN run adds: its two losses, the worker's intrinsic reward, D feature rows computed in the step.
LEAKGAN_COLUMNS = ["manager_loss", "worker_loss", "intrinsic_reward", "feature_rows"]
#: Columns of the optional methods: professor forcing (MLE stage), the Gumbel-softmax estimator.
PROFESSOR_COLUMNS = ["pf_d_loss", "pf_g_loss", "pf_d_accuracy", "pf_d_update", "pf_g_update"]
GUMBEL_COLUMNS = ["tau", "gumbel_d_loss"]


@dataclass
class OrganState:
    """Everything a run needs to continue: networks, optimizers, progress and running statistics."""

    cfg: OrganConfig
    symbols: Symbols
    disc_input: DiscriminatorInput
    generator: GeneratorNet
    rollout: GeneratorNet
    discriminator: Discriminator
    g_opt: torch.optim.Optimizer
    d_opt: torch.optim.Optimizer
    stage: str = "mle"
    stage_step: int = 0
    step: int = 0
    baseline: float | None = None
    collapse_count: int = 0
    precision: str = "fp32"  # cfg.precision resolved on the machine the run started on (fp32 or bf16)
    extra: dict[str, Any] = field(default_factory=dict)
    professor: ProfessorForcing | None = None  # [professor] enabled: its discriminator and optimizer


def build_state(cfg: OrganConfig, symbols: Symbols, device: str,
                disc_input: DiscriminatorInput | None = None) -> OrganState:
    """Fresh networks and optimizers for ``cfg`` over ``symbols`` (D reads ``disc_input``, default the symbols)."""
    disc_input = disc_input or SymbolInput(symbols)
    disc = Discriminator(cfg.discriminator, disc_input.n_inputs, disc_input.pad, cfg.generator.max_len).to(device)
    if cfg.generator.architecture == "leakgan":  # its manager reads D's features (the rollout copy shares them)
        gen: GeneratorNet = build_leakgan(cfg.generator, cfg.leakgan, symbols, disc).to(device)
    else:
        gen = build_generator(cfg.generator, symbols).to(device)
    g_opt = torch.optim.Adam(gen.parameters(), lr=cfg.mle.lr)
    d_opt = torch.optim.Adam(disc.parameters(), lr=cfg.discriminator.lr, weight_decay=cfg.discriminator.l2)
    rollout = copy.deepcopy(gen).eval()
    professor = ProfessorForcing(cfg.professor, gen) if cfg.professor.enabled else None
    return OrganState(cfg, symbols, disc_input, gen, rollout, disc, g_opt, d_opt,
                      precision=resolve_precision(cfg.precision, device), professor=professor)


def build_generator(cfg: GeneratorConfig, symbols: Symbols) -> GeneratorNet:
    """An untrained generator over ``symbols`` (BOS in its inputs, the symbols it draws as outputs)."""
    return GeneratorNet(cfg, symbols.n_inputs, symbols.pad, symbols.bos, symbols.eos, n_outputs=symbols.n_outputs)


def checkpoint_payload(state: OrganState, command: str) -> dict[str, Any]:
    """The self-describing checkpoint dict (plain types and tensors only)."""
    return {
        "kind": "organ",
        "config": to_dict(state.cfg),
        "model": state.generator.state_dict(),
        "discriminator": state.discriminator.state_dict(),
        "rollout": state.rollout.state_dict(),
        "optimizer": {"generator": state.g_opt.state_dict(), "discriminator": state.d_opt.state_dict()},
        **state.symbols.to_checkpoint(),
        **state.disc_input.to_checkpoint(),
        **({"professor": state.professor.state_dict()} if state.professor is not None else {}),
        "stage": state.stage,
        "stage_step": state.stage_step,
        "step": state.step,
        "command": command,
        "versions": versions(),
        "precision": state.precision,
        "extra": {"baseline": state.baseline, "collapse_count": state.collapse_count, "rng": capture_rng(), **state.extra},
    }


def state_from_checkpoint(ckpt: dict[str, Any], device: str) -> OrganState:
    """Rebuild an :class:`OrganState` from a checkpoint written by :func:`checkpoint_payload`."""
    cfg = config_from_checkpoint(ckpt)
    symbols = symbols_from_checkpoint(ckpt, cfg.generator)
    state = build_state(cfg, symbols, device, discriminator_input(cfg.discriminator.input, symbols, ckpt=ckpt))
    state.generator.load_state_dict(ckpt["model"])
    state.discriminator.load_state_dict(ckpt["discriminator"])
    state.rollout.load_state_dict(ckpt["rollout"])
    state.g_opt.load_state_dict(ckpt["optimizer"]["generator"])
    state.d_opt.load_state_dict(ckpt["optimizer"]["discriminator"])
    if state.professor is not None:
        state.professor.load_state_dict(ckpt["professor"])
    state.stage, state.stage_step, state.step = ckpt["stage"], int(ckpt["stage_step"]), int(ckpt["step"])
    state.precision = ckpt.get("precision", state.precision)
    extra = dict(ckpt.get("extra", {}))
    state.baseline = extra.pop("baseline", None)
    state.collapse_count = int(extra.pop("collapse_count", 0))
    rng = extra.pop("rng", None)
    if rng is not None:
        restore_rng(rng)
    state.extra = extra
    return state


def config_from_checkpoint(ckpt: dict[str, Any]) -> OrganConfig:
    """The whole run config stored in a checkpoint (old key names read quietly); its objectives resolve
    against the registry only (:func:`~molgen.scoring.components.registry_only`)."""
    with quiet_renames(), registry_only():
        return from_dict(OrganConfig, ckpt["config"], where="checkpoint config")


#: sub-seed stream of the MLE stage's epoch order (the stages' step streams use the stage ids)
MLE_ORDER = len(STAGES)


def _reseed(state: OrganState) -> torch.Generator:
    """Seed the global RNGs (dropout) and return a sampling generator, both from (seed, stage, step)."""
    s = derive_seed(state.cfg.seed, _STAGE_ID[state.stage], state.stage_step)
    set_seed(s)
    return torch.Generator(device=state.generator.head.weight.device).manual_seed(s)


def batch_stats(smiles: list[str]) -> dict[str, float]:
    """Validity, uniqueness (distinct / valid), internal diversity (1 - mean Tanimoto) of a sample."""
    from molgen.chem.fingerprints import fingerprints, mean_pairwise_similarity
    from molgen.chem.mol import canonical_smiles

    canon = [canonical_smiles(s) for s in smiles]
    valid = [c for c in canon if c is not None]
    n_valid = len(valid)
    out = {"validity": n_valid / max(1, len(smiles)), "uniqueness": len(set(valid)) / n_valid if n_valid else 0.0}
    out["int_div"] = 1.0 - mean_pairwise_similarity(fingerprints(valid)) if n_valid > 1 else 0.0
    return out


class TrainData:
    """Encoded training molecules ``(n, max_len)`` (uint8 when the symbols allow) with a validation split."""

    def __init__(self, ids: np.ndarray, val_fraction: float, seed: int, pad: int = 0) -> None:
        self.pad = pad
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(ids))
        n_val = int(len(ids) * val_fraction)
        self.val = torch.from_numpy(ids[order[:n_val]].astype(np.int64))
        self.train = torch.from_numpy(ids[order[n_val:]])

    def batch(self, indices: torch.Tensor) -> torch.Tensor:
        """Rows ``indices`` as int64, cropped to the longest sequence in the batch."""
        rows = self.train[indices].long()
        width = int((rows != self.pad).sum(1).max())
        return rows[:, : max(1, width)]

    def random(self, n: int, generator: torch.Generator, among: torch.Tensor | None = None) -> torch.Tensor:
        """``n`` rows drawn with replacement by ``generator`` (on the training device; the rows stay on
        the CPU), from the rows ``among`` (indices) or from all of them."""
        picks = torch.randint(len(self.train) if among is None else len(among), (n,), generator=generator,
                              device=generator.device).cpu()
        return self.batch(picks if among is None else among[picks])


def _save(state: OrganState, out: Path, command: str) -> None:
    RunDir(out).save("last", checkpoint_payload(state, command))


class Run:
    """Drives the stages over an :class:`OrganState`: logging, checkpoints, interrupt handling."""

    def __init__(self, state: OrganState, data: TrainData, context: ObjectiveContext, out: Path,
                 command: str, progress: bool, logger: CSVLogger | None, dist: DistContext | None = None) -> None:
        self.state, self.data, self.out, self.command, self.progress = state, data, out, command, progress
        self.logger = logger  # None on the ranks of a torchrun launch other than 0
        self.dist = dist or DistContext(device=str(state.generator.head.weight.device))
        # MLE goes through DDP under torchrun (rows rank::world of each batch); the later stages run on rank 0
        self._nll = self.dist.wrap(state.generator, "nll")
        cfg = state.cfg
        self.scorer = (ObjectiveScorer(cfg.objectives, context, cfg.reward.n_jobs, cfg.reward.parallel_min,
                                       cfg.reward.cache_size, cfg.reward.aggregate, scheduler=cfg.reward.scheduler)
                       if cfg.reward.weight_d < 1 else None)
        if self.scorer is not None:
            self.scorer.connect()  # a [reward] scheduler that cannot be reached fails here, before any training
        self.memory = None
        if cfg.reward.memory.kind != "none" and self.scorer is not None:
            # the counts live in state.extra (saved with every checkpoint), so a resumed run goes on exactly
            self.memory = DiversityMemory(cfg.reward.memory, state.extra.get("memory"), cfg.reward.cache_size)
            state.extra["memory"] = self.memory.counts
        self.reward = OrganReward(state.symbols, state.discriminator, self.scorer, cfg.reward.weight_d,
                                  cfg.reward.divide_by_count, self.memory, state.disc_input)
        #: LeakGAN's losses (None: the family's own RNN generator)
        self.leakgan = LeakGANObjective(state.generator, cfg.leakgan) if cfg.generator.architecture == "leakgan" else None
        #: the Gumbel estimator's REINFORCE term: O alone (D's term goes through the relaxation)
        self.objective_reward = (OrganReward(state.symbols, None, self.scorer, 0.0, cfg.reward.divide_by_count, self.memory)
                                 if self.scorer is not None and cfg.adversarial.estimator == "gumbel" else None)
        self.columns = BASE_COLUMNS + ([f"obj_{n}" for n in self.scorer.names] if self.scorer else []) \
            + (["memory_penalised", "memory_full"] if self.memory is not None else []) \
            + (PROFESSOR_COLUMNS if state.professor is not None else []) \
            + (GUMBEL_COLUMNS if cfg.adversarial.estimator == "gumbel" else []) \
            + (LEAKGAN_COLUMNS if self.leakgan is not None else [])
        #: columns this run has but a resumed log written by an older molgen lacks: not logged
        self.unlogged = [c for c in self.columns if logger is not None and logger.fieldnames and c not in logger.fieldnames]
        if self.unlogged:
            log.warning("%s has no column(s) %s (written by an older molgen); they are not logged",
                        logger.path, ", ".join(self.unlogged))
            self.columns = list(logger.fieldnames)
        self.device = state.generator.head.weight.device
        #: the training rows the mle_mix term draws from (None: all)
        self.anchor = self._anchor_rows() if cfg.adversarial.mle_mix > 0 and cfg.adversarial.mle_mix_top < 1 else None
        self._perm_epoch, self._perm = -1, torch.empty(0, dtype=torch.long)
        self._masks: dict[tuple[int, int], torch.Tensor] = {}
        #: the run's max_minutes is spent (set by the stage loop; the run then ends where it is)
        self.out_of_time = False

    def _anchor_rows(self) -> torch.Tensor:
        """The training rows of the mle_mix term when ``mle_mix_top`` < 1: the best fraction, by the
        run's per-molecule objectives, of a seeded random pool of ``mle_mix_pool`` rows (sorted
        indices). Depends on the data and the seed alone, so a resumed run chooses the same rows."""
        st, c = self.state, self.state.cfg.adversarial
        n = len(self.data.train)
        pool = np.random.default_rng(st.cfg.seed).permutation(n)[: c.mle_mix_pool] if 0 < c.mle_mix_pool < n \
            else np.arange(n)
        t0 = time.perf_counter()
        log.info("scoring %d training molecules to choose the mle_mix anchor (the best %.0f%%)", len(pool), 100 * c.mle_mix_top)
        smiles = [st.symbols.to_smiles(self.data.train[i].long().tolist()) for i in pool]
        try:
            scores = self.scorer.per_molecule_total(smiles)
        except ValueError as exc:
            raise UsageError(f"adversarial.mle_mix_top: {exc}") from None
        k = max(1, round(len(pool) * c.mle_mix_top))
        best = np.argsort(-scores, kind="stable")[:k]
        log.info("mle_mix anchor: %d of %d training molecules, objective %.3f-%.3f (mean %.3f; the pool's %.3f), %.0f s",
                 k, len(pool), scores[best].min(), scores[best].max(), scores[best].mean(), scores.mean(),
                 time.perf_counter() - t0)
        return torch.from_numpy(np.sort(pool[best]))

    def _log(self, row: dict[str, Any]) -> None:
        st = self.state
        full = {k: "" for k in self.columns}
        full.update({"step": st.step, "stage": st.stage, "stage_step": st.stage_step})
        full.update({k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items() if k not in self.unlogged})
        if self.logger is not None and (st.step % st.cfg.log_every == 0 or row.get("_force")):
            full.pop("_force", None)
            self.logger.log(full)

    def run(self) -> int:
        """Run the remaining stages; 0 when done, 130 when stopped by a signal (after checkpointing)."""
        with GracefulInterrupt() as stop:
            try:
                for stage, fn, total in (
                    ("mle", self.mle_step, self.state.cfg.mle.steps),
                    ("dpretrain", self.dpretrain_step, self.state.cfg.dpretrain.steps),
                    ("adversarial", self.adversarial_step, self.state.cfg.adversarial.steps),
                ):
                    if _STAGE_ID[self.state.stage] > _STAGE_ID[stage]:
                        continue
                    if stage != "mle" and self.dist.launched and not self._go_on_alone():
                        return 0
                    if not self._stage(stage, fn, total, stop):
                        self._checkpoint()
                        self.dist.barrier()  # no rank leaves (and has torchrun end the others) before rank 0 saved
                        log.warning("stopped by %s at step %d; resume with --resume", stop.signal_name, self.state.step)
                        return 130
                    if self.out_of_time:
                        self._checkpoint()
                        self.dist.barrier()
                        log_budget_spent(log, self.state.cfg.max_minutes, self.state.extra["train_seconds"],
                                         f"{stage} step {self.state.stage_step} (step {self.state.step} in all)")
                        return 0
                self.state.stage, self.state.stage_step = "done", 0
                self._checkpoint()
            finally:
                if self.scorer is not None:
                    self.scorer.close()
        return 0

    def _checkpoint(self) -> None:
        """Save ``last.pt`` (rank 0, once every rank is seen to hold the same generator)."""
        self.dist.check_same(self.state.generator, f"step {self.state.step}")
        if self.dist.is_main:
            _save(self.state, self.out, self.command)

    def _go_on_alone(self) -> bool:
        """After MLE under torchrun, rank 0 runs the discriminator and adversarial stages by itself
        (their sampling, rollouts and scoring are not split across ranks; one process gives exactly
        the single-process run) and the other ranks finish. True on rank 0."""
        self.dist.barrier()
        if not self.dist.is_main:
            log.info("MLE done; rank %d finishes, rank 0 trains the discriminator and adversarial stages", self.dist.rank)
            return False
        self.dist = self.dist.alone()
        return True

    def _stage(self, stage: str, fn, total: int, stop: GracefulInterrupt) -> bool:
        st = self.state
        if st.stage != stage:
            st.stage, st.stage_step = stage, 0
        if stage == "adversarial" and st.stage_step == 0:
            for group in st.g_opt.param_groups:
                group["lr"] = st.cfg.adversarial.g_lr
        bar = tqdm(total=total, initial=st.stage_step, desc=stage, unit="step", disable=not self.progress, dynamic_ncols=True)
        try:
            while st.stage_step < total:
                if self.dist.any(stop.requested):  # every rank stops at the same step
                    return False
                if budget_spent(st.cfg.max_minutes, st.extra.get("train_seconds", 0.0), self.dist):  # no step starts after
                    self.out_of_time = True
                    break
                t0 = time.perf_counter()
                row = fn(_reseed(st))
                st.stage_step += 1
                st.step += 1
                row["seconds"] = time.perf_counter() - t0
                st.extra["train_seconds"] = st.extra.get("train_seconds", 0.0) + row["seconds"]
                self._log(row)
                bar.update(1)
                bar.set_postfix({k: f"{row[k]:.3g}" for k in ("mle_loss", "reward", "validity", "d_acc") if isinstance(row.get(k), float)})
                if st.stage_step % st.cfg.checkpoint_every == 0:
                    self._checkpoint()
                if row.get("collapsed") and st.cfg.adversarial.stop_on_collapse:
                    log.error("mode collapse: stopping (adversarial.stop_on_collapse = true)")
                    return True
        finally:
            bar.close()
        if stage == "mle":
            st.rollout.load_state_dict(st.generator.state_dict())
        return True

    def mle_step(self, gen: torch.Generator) -> dict[str, Any]:
        """One teacher-forced maximum-likelihood step on a shuffled minibatch (epoch order seeded)."""
        st, c = self.state, self.state.cfg.mle
        n = len(self.data.train)
        per_epoch = max(1, n // c.batch_size)
        epoch, k = divmod(st.stage_step, per_epoch)
        if self._perm_epoch != epoch:
            order = torch.Generator().manual_seed(derive_seed(st.cfg.seed, MLE_ORDER, epoch))
            self._perm = torch.randperm(n, generator=order)
            self._perm_epoch = epoch
        whole = self._perm[k * c.batch_size : (k + 1) * c.batch_size]
        # under torchrun: this rank's rows, its loss weighted by its share of the batch's tokens
        tokens = (self.data.train[whole] != self.data.pad).sum(1).numpy()
        shard = self.dist.batch_shard(tokens, int(tokens.max()))
        seqs = self.data.batch(self.dist.shard(whole)).to(self.device)
        lr = mle_lr(c, st.stage_step)
        for group in st.g_opt.param_groups:
            group["lr"] = lr
        st.generator.train()
        mask = self._mle_mask(epoch, k, per_epoch)
        with self._autocast():
            if self.leakgan is not None:  # worker NLL + the manager's cosine loss to real feature moves
                loss, row = self.leakgan.mle_loss(seqs, mask)
            else:
                if st.professor is not None:  # NLL + the gated adversarial term (its discriminator steps inside)
                    loss, extra = st.professor.loss(st.generator, seqs, mask, st.symbols.machine(len(seqs), self.device), gen)
                else:
                    loss, extra = self._nll(seqs, mask), {}
                row = {"mle_loss": loss.item(), **extra}
        st.g_opt.zero_grad()
        (loss if shard is None else loss * shard.weight).backward()
        torch.nn.utils.clip_grad_norm_(st.generator.parameters(), c.grad_clip)
        st.g_opt.step()
        if shard is not None:  # the global batch's mean: each rank's loss weighted by its share
            row["mle_loss"] = self.dist.all_reduce_sum([loss.item() * shard.weight / self.dist.world])[0]
        row["lr"] = lr
        if ((st.stage_step + 1) % c.eval_every == 0 or st.stage_step + 1 == c.steps) and self.dist.is_main:
            row.update(self._evaluate_generator(gen))
            row["_force"] = True
        return row

    def _mle_mask(self, epoch: int, k: int, per_epoch: int) -> torch.Tensor | None:
        """The training mask of batch ``k`` of ``epoch`` (None for free tokens). The machine is
        replayed for :func:`~molgen.masking.codec.replay_ahead` batches at once (one run over many
        rows costs about what one over a single batch does), then handed out batch by batch; the
        masks depend on the sequences alone, so a resumed run gets the same ones."""
        symbols, c = self.state.symbols, self.state.cfg.mle
        if not symbols.masked:
            return None
        if (epoch, k) not in self._masks:
            ahead = range(k, min(k + replay_ahead(self.device), per_epoch))
            batches = [self.data.batch(self.dist.shard(self._perm[j * c.batch_size : (j + 1) * c.batch_size])) for j in ahead]
            width = max(b.size(1) for b in batches)
            padded = torch.cat([torch.nn.functional.pad(b, (0, width - b.size(1)), value=symbols.pad) for b in batches])
            masks = symbols.train_mask(padded.to(self.device))
            self._masks = {}
            for i, (j, b) in enumerate(zip(ahead, batches)):
                self._masks[(epoch, j)] = masks[i * b.size(0) : (i + 1) * b.size(0), : b.size(1)]
        return self._masks.pop((epoch, k))

    @torch.no_grad()
    def _evaluate_generator(self, gen: torch.Generator) -> dict[str, Any]:
        st = self.state
        st.generator.eval()
        row: dict[str, Any] = {}
        if len(self.data.val):
            val = self.data.val[:2048].to(self.device)
            val = val[:, : int((val != self.data.pad).sum(1).max())]
            mask = st.symbols.train_mask(val)
            with self._autocast():
                row["val_nll"] = float(st.generator.nll(val, mask))
        seqs = self._sample(256, gen)
        row.update(batch_stats([st.symbols.to_smiles(s) for s in seqs.tolist()]))
        row["mean_length"] = float(lengths(seqs, st.symbols.eos).float().mean())
        st.generator.train()
        return row

    def _sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """``n`` sequences from G_theta, under the symbols' machine when they have one."""
        with self._autocast():
            return self.state.generator.sample(n, generator=gen, machine=self.state.symbols.machine(n, self.device))

    def _autocast(self):
        """The run's precision around a forward pass (:func:`molgen.precision.autocast`)."""
        return autocast(self.device, self.state.precision)

    def _train_discriminator(self, gen: torch.Generator, n: int, epochs: int, batch_size: int) -> tuple[float, float]:
        """Fresh negatives from G and as many real sequences; ``epochs`` passes. Returns mean loss and accuracy."""
        st = self.state
        st.generator.eval()
        fake = st.disc_input(self._sample(n, gen))
        real = st.disc_input(self.data.random(n, gen).to(self.device))
        disc = st.discriminator
        disc.train()
        losses, accs = [], []
        for _ in range(epochs):
            order = torch.randperm(n, generator=gen, device=gen.device)
            for lo in range(0, n, batch_size // 2):
                idx = order[lo : lo + batch_size // 2]
                with self._autocast():
                    loss, acc = disc.loss(disc.pad_to_length(real[idx]), disc.pad_to_length(fake[idx]))
                st.d_opt.zero_grad()
                loss.backward()
                st.d_opt.step()
                disc.clip_weights()
                losses.append(loss.item())
                accs.append(acc)
        st.generator.train()
        return float(np.mean(losses)), float(np.mean(accs))

    def dpretrain_step(self, gen: torch.Generator) -> dict[str, Any]:
        """One discriminator-pretraining step: fresh negatives, ``epochs`` passes."""
        c = self.state.cfg.dpretrain
        loss, acc = self._train_discriminator(gen, c.n_samples, c.epochs, c.batch_size)
        return {"d_loss": loss, "d_acc": acc}

    def adversarial_step(self, gen: torch.Generator) -> dict[str, Any]:
        """g-steps (sample, rollouts, REINFORCE), rollout-policy update, d-steps; monitoring and collapse guard."""
        st, c = self.state, self.state.cfg.adversarial
        if c.estimator == "gumbel":
            return self.gumbel_step(gen)
        row: dict[str, Any] = {}
        rows_before = st.generator.leak.rows if self.leakgan is not None else 0
        for _ in range(c.g_steps):
            st.generator.eval()
            seqs = self._sample(c.batch_size, gen)
            smiles = [st.symbols.to_smiles(s) for s in seqs.tolist()]
            with self._autocast():
                comps = self.reward.components(seqs)
                res = mc_rollout(st.rollout, seqs, self.reward, c.rollouts, generator=gen, chunk=c.rollout_chunk,
                                 stride=c.rollout_stride, new_machine=self._new_machine())
            valid_q = res.q[res.mask]
            baseline = float(valid_q.mean()) if st.baseline is None else st.baseline
            st.generator.train()
            mask = st.symbols.train_mask(seqs)
            if self.leakgan is not None:  # manager on Q, worker on the intrinsic reward
                with self._autocast():
                    loss, entropy, parts = self.leakgan.adversarial_loss(seqs, mask, res.q, baseline, c.entropy_coef)
                row.update(parts)
            else:
                with self._autocast():
                    logp, entropy = st.generator.token_log_probs(seqs, mask)
                loss = reinforce_loss(logp, entropy, res.q, res.mask, baseline, c.entropy_coef)
            loss = self._update_generator(loss, gen, baseline, float(valid_q.mean()), smiles, comps)
        for _ in range(c.d_steps):
            row["d_loss"], row["d_acc"] = self._train_discriminator(gen, c.d_samples, c.d_epochs, 2 * c.batch_size)
        if self.leakgan is not None:
            row.update(self._leakgan_interleaved_mle(gen))
            row["feature_rows"] = st.generator.leak.rows - rows_before
        stats = batch_stats(smiles)
        m = res.mask.float()
        row.update({
            "pg_loss": loss.item(), "reward": float(comps["reward"].mean()), "baseline": st.baseline,
            "entropy": float((entropy.detach() * m).sum() / m.sum()), "mean_length": float(lengths(seqs, st.symbols.eos).float().mean()),
            "n_rollouts": res.n_completions, "t_policy": res.seconds_policy, "t_reward": res.seconds_reward, **stats,
        })
        if "d" in comps:
            row["d_reward"] = float(comps["d"].mean())
        return self._finish_row(row, comps, stats)

    def _update_generator(self, loss: torch.Tensor, gen: torch.Generator, baseline: float, reward: float,
                          smiles: list[str], comps: dict[str, torch.Tensor]) -> torch.Tensor:
        """The end of a generator step (REINFORCE or Gumbel): the optional MLE mix, the update, the
        reward baseline, the rollout policy, the diversity memory. Returns the loss with the MLE term."""
        st, c = self.state, self.state.cfg.adversarial
        if c.mle_mix > 0:
            real = self.data.random(c.batch_size, gen, self.anchor).to(self.device)
            mask = st.symbols.train_mask(real)
            with self._autocast():
                loss = loss + c.mle_mix * st.generator.nll(real, mask)
        st.g_opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(st.generator.parameters(), c.grad_clip)
        st.g_opt.step()
        st.baseline = c.baseline_decay * baseline + (1 - c.baseline_decay) * reward
        self._update_rollout()
        if self.memory is not None:  # after the step: this batch was scored against the memory before it
            self.memory.record(smiles, comps["objective_raw"].tolist())
        return loss

    def _finish_row(self, row: dict[str, Any], comps: dict[str, torch.Tensor], stats: dict[str, Any]) -> dict[str, Any]:
        """The columns every adversarial step's log row ends with: the objectives, the diversity memory,
        and the collapse guard's verdict on the batch."""
        if self.scorer is not None:
            row["objective"] = float(comps["objective"].mean())
            row.update({f"obj_{n}": float(comps[n].mean()) for n in self.scorer.names})
        if self.memory is not None:
            row["memory_penalised"] = float((comps["memory"] < 1).float().mean())
            row["memory_full"] = self.memory.full_buckets
        row["collapsed"] = self._collapse_guard(stats["uniqueness"]) if stats["validity"] else False
        return row

    def _leakgan_interleaved_mle(self, gen: torch.Generator) -> dict[str, Any]:
        """LeakGAN's interleaved MLE: after every ``mle_every`` adversarial steps, ``mle_steps`` teacher-forced
        batches of real data (at the adversarial learning rate); the rollout policy follows."""
        st, lc = self.state, self.state.cfg.leakgan
        if not lc.mle_every or (st.stage_step + 1) % lc.mle_every:
            return {}
        st.generator.train()
        for _ in range(lc.mle_steps):
            real = self.data.random(st.cfg.adversarial.batch_size, gen).to(self.device)
            loss, parts = self.leakgan.mle_loss(real, st.symbols.train_mask(real))
            st.g_opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(st.generator.parameters(), st.cfg.adversarial.grad_clip)
            st.g_opt.step()
        self._update_rollout()
        return {"mle_loss": parts["mle_loss"]}

    def gumbel_step(self, gen: torch.Generator) -> dict[str, Any]:
        """The adversarial step with the Gumbel-softmax estimator (:mod:`molgen.organ.gumbel`): D's term
        through the relaxed sample, the objectives' by whole-sequence REINFORCE; then d-steps as SeqGAN's."""
        st, c, lam = self.state, self.state.cfg.adversarial, self.state.cfg.reward.weight_d
        tau = gumbel.tau_at(st.cfg.gumbel, st.stage_step)
        for _ in range(c.g_steps):
            st.generator.train()
            t0 = time.perf_counter()
            s = gumbel.relaxed_sample(st.generator, c.batch_size, tau, gen, st.symbols.machine(c.batch_size, self.device),
                                      st.cfg.gumbel.straight_through)
            smiles = [st.symbols.to_smiles(r) for r in s.seqs.tolist()]
            d_loss = gumbel.generator_loss(st.discriminator, s, st.cfg.gumbel)
            t1 = time.perf_counter()
            comps = self.objective_reward.components(s.seqs) if self.objective_reward is not None else {}
            o = comps.get("reward", torch.zeros(len(s.seqs), device=self.device))
            t_reward = time.perf_counter() - t1
            baseline = float(o.mean()) if st.baseline is None else st.baseline
            pg = reinforce_loss(s.logp, s.entropy, (1 - lam) * o.unsqueeze(1).expand_as(s.logp), s.mask,
                                (1 - lam) * baseline, c.entropy_coef)
            loss = lam * d_loss + pg
            loss = self._update_generator(loss, gen, baseline, float(o.mean()), smiles, comps)
        row: dict[str, Any] = {}
        for _ in range(c.d_steps):
            row["d_loss"], row["d_acc"] = self._train_discriminator(gen, c.d_samples, c.d_epochs, 2 * c.batch_size)
        d = st.discriminator.reward(s.seqs) if lam > 0 else torch.zeros_like(o)
        stats, m = batch_stats(smiles), s.mask.float()
        row.update({
            "tau": tau, "gumbel_d_loss": d_loss.item(), "pg_loss": loss.item(), "d_reward": float(d.mean()),
            "reward": float((lam * d + (1 - lam) * o).mean()), "baseline": st.baseline,
            "entropy": float((s.entropy.detach() * m).sum() / m.sum()), "mean_length": float(m.sum(1).mean()),
            "n_rollouts": 0, "t_policy": t1 - t0, "t_reward": t_reward, **stats,
        })
        return self._finish_row(row, comps, stats)

    def _new_machine(self):
        """What rollouts use to start machines (``None`` for free tokens)."""
        if not self.state.symbols.masked:
            return None
        return lambda n: self.state.symbols.machine(n, self.device)

    def _update_rollout(self) -> None:
        """G_beta <- G_theta (hard copy) or an exponential moving average of it."""
        st, c = self.state, self.state.cfg.adversarial
        if c.rollout_update == "copy":
            st.rollout.load_state_dict(st.generator.state_dict())
            return
        with torch.no_grad():
            for pb, pt in zip(st.rollout.parameters(), st.generator.parameters()):
                pb.mul_(c.rollout_ema).add_(pt, alpha=1 - c.rollout_ema)

    def _collapse_guard(self, unique_fraction: float) -> bool:
        """Warn when uniqueness (distinct among valid) stays under the threshold for ``patience`` steps."""
        st, c = self.state, self.state.cfg.adversarial
        st.collapse_count = st.collapse_count + 1 if unique_fraction < c.collapse_uniqueness else 0
        if st.collapse_count >= c.collapse_patience:
            log.warning("possible mode collapse: uniqueness under %.0f%% for %d steps (now %.0f%%)",
                        100 * c.collapse_uniqueness, st.collapse_count, 100 * unique_fraction)
            return True
        return False


def mle_lr(c: MLEConfig, step: int) -> float:
    """Learning rate of MLE step ``step`` (0-based): constant, or cosine from ``lr`` to ``lr_min``."""
    if c.lr_schedule == "constant" or c.steps <= 1:
        return c.lr
    frac = min(step, c.steps - 1) / (c.steps - 1)
    return c.lr_min + 0.5 * (c.lr - c.lr_min) * (1 + math.cos(math.pi * frac))


def _init_generator(state: OrganState, path: str) -> None:
    """Take generator weights and symbols from another ORGAN checkpoint (``mle.init_checkpoint``).

    The generators must match; a LeakGAN run may start from a plain LSTM generator of the same sizes,
    taking its embedding and LSTM (the worker's trunk) while its head and manager start fresh."""
    ckpt = load_checkpoint(path, kind="organ")
    with quiet_renames():
        src_cfg = from_dict(GeneratorConfig, ckpt["config"]["generator"], where=f"{path} config.generator")
    src, own = to_dict(src_cfg), to_dict(state.cfg.generator)
    trunk = own["architecture"] == "leakgan" and src["architecture"] != "leakgan"
    if trunk:
        src, own = {**src, "architecture": ""}, {**own, "architecture": ""}
    if src != own:
        raise UsageError(f"{path}: generator config {to_dict(src_cfg)} differs from the run's [generator] table")
    if symbols_from_checkpoint(ckpt, src_cfg).to_checkpoint() != state.symbols.to_checkpoint():
        raise UsageError(f"{path}: {state.symbols.kind} (vocabulary or grammar) differ from the run's")
    weights = {k: v for k, v in ckpt["model"].items() if k.startswith(("embed.", "rnn."))} if trunk else ckpt["model"]
    shapes = {k: tuple(v.shape) for k, v in state.generator.state_dict().items()}
    if any(shapes.get(k) != tuple(v.shape) for k, v in weights.items()) or (not trunk and len(weights) != len(shapes)):
        raise UsageError(f"{path}: its generator's weights do not fit the run's generator "
                         "(with architecture = 'leakgan': [leakgan] sizes or the discriminator's filters differ)")
    state.generator.load_state_dict(weights, strict=not trunk)
    state.rollout.load_state_dict(state.generator.state_dict())
    state.extra["init_checkpoint"] = {"path": str(path), "step": int(ckpt.get("step", 0)),
                                      "taken": "embedding and LSTM" if trunk else "generator"}
    if trunk:
        log.info("LeakGAN starts from %s's embedding and LSTM; its head and manager start fresh (mle.steps = %d train "
                 "them)", path, state.cfg.mle.steps)
    if trunk and state.cfg.mle.steps == 0:
        log.warning("mle.steps = 0 with a LeakGAN initialised from a plain generator: its fresh head is untrained")


#: Settings ``--resume --config`` may change: more adversarial steps continue the same run
#: (every step is seeded from (seed, stage, step) alone).
EXTENDABLE = ("adversarial.steps", "max_minutes")


def train_from_options(opts: TrainOptions) -> int:
    """Run or resume ORGAN training for the command line; returns 0, or 130 when interrupted.

    The run folder is locked for the whole run; a start that fails leaves no run folder behind."""
    with start(opts.device, opts.dist_backend) as dist, RunDir(opts.out).session(main=dist.is_main) as run_dir:
        return _train(replace(opts, progress=opts.progress and dist.is_main), run_dir, dist)


def _user_objectives(config_path: Path | None) -> set[str]:
    """The objective names the user's own config file gives (what a resumed checkpoint may import)."""
    if config_path is None:
        return set()
    entries = load_toml(config_path).get("objectives", [])
    return {e["name"] for e in entries if isinstance(e, dict) and isinstance(e.get("name"), str)} if isinstance(entries, list) else set()


def _train(opts: TrainOptions, run_dir: RunDir, dist: DistContext) -> int:
    device = dist.device
    ckpt = run_dir.load_last("organ", map_location=device) if opts.resume else None
    if ckpt is None:
        run_dir.check_new()
    record = data_record(opts.data)
    if ckpt is not None:
        check_resumed_data(ckpt.get("extra", {}).get("data", {}), record, allow=opts.allow_data_change, run=run_dir.path)
    allowed = _user_objectives(opts.config)
    with registry_only(allowed):
        stored = config_from_checkpoint(ckpt) if ckpt is not None else None
    cfg = resolve_config(
        OrganConfig, config_path=opts.config, seed=opts.seed, extendable=EXTENDABLE, where=f"the run in {run_dir.path}",
        stored=stored, precision=opts.precision, max_minutes=opts.max_minutes,
    )
    _threads(cfg)
    if cfg.mle.batch_size < dist.world:
        raise UsageError(f"mle.batch_size {cfg.mle.batch_size} is the global batch: it must be at least the "
                         f"{dist.world} processes torchrun started")
    if dist.world > 1 and (cfg.generator.architecture == "leakgan" or cfg.professor.enabled):
        raise UsageError("LeakGAN and professor forcing train in one process only (their extra networks are not "
                         "under DistributedDataParallel): run without torchrun")
    state = None
    if ckpt is not None:
        with registry_only(allowed):
            state = state_from_checkpoint(ckpt, device)
        done_steps = state.cfg.adversarial.steps
        state.cfg = cfg  # the stored config, or one that only trains longer
        if state.stage == "done" and cfg.adversarial.steps > done_steps:  # a finished run trains on
            state.stage, state.stage_step = "adversarial", done_steps
        log.info("resuming %s at stage %s step %d", run_dir.last, state.stage, state.step)
        if spent_at_resume(log, cfg.max_minutes, state.extra, dist,
                           f"{state.stage} step {state.stage_step} (step {state.step} in all)"):
            return 0
    set_seed(cfg.seed)
    smiles = read_training_smiles(opts, cfg.max_molecules)
    if state is None:
        symbols = symbols_from_data(cfg.generator, smiles)
        if cfg.mle.init_checkpoint:
            symbols = symbols_from_checkpoint(load_checkpoint(cfg.mle.init_checkpoint, kind="organ"), cfg.generator)
        ids = _encode(symbols, smiles, cfg.generator.max_len)
        state = build_state(cfg, symbols, device, discriminator_input(cfg.discriminator.input, symbols, ids))
        if cfg.mle.init_checkpoint:
            _init_generator(state, cfg.mle.init_checkpoint)
    else:
        ids = _encode(state.symbols, smiles, cfg.generator.max_len)
    state.extra["data"] = record
    if dist.is_main:
        run_dir.write_config(cfg)
    data = TrainData(ids, cfg.mle.val_fraction, cfg.seed, state.symbols.pad)
    context = ObjectiveContext.from_training(smiles, cfg.reward.reference_size, cfg.seed)
    logger = CSVLogger(run_dir.log_csv, resume_step=state.step if opts.resume else None) if dist.is_main else None
    log.info("%d %s, %d training / %d validation sequences, device %s, precision %s",
             state.symbols.n_outputs, state.symbols.kind, len(data.train), len(data.val), device, state.precision)
    return Run(state, data, context, run_dir.path, opts.command, opts.progress, logger, dist).run()


def _encode(symbols: Symbols, smiles: list[str], max_len: int) -> np.ndarray:
    """The training sequences (what does not fit is reported by ``symbols.encode``); at least 2 must fit."""
    ids = symbols.encode(smiles)
    if len(ids) < 2:
        raise InputError(f"only {len(ids)} of {len(smiles)} training molecules fit generator.max_len = {max_len} "
                         f"{symbols.kind} (with the end symbol); at least 2 are needed: raise generator.max_len")
    return ids


def _threads(cfg: OrganConfig) -> None:
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
