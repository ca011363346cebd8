"""Training loop of the VAE family (``molgen train gvae|cvae``).

The loop is a short :meth:`VAETrainer.run` with callbacks: train step -> log -> validate ->
checkpoint -> stop? Everything a resumed run needs is in ``checkpoints/last.pt``: weights,
optimizer, LR scheduler, counters, best metric, running log sums and RNG states. The data
order of an epoch is a function of ``(seed, epoch)`` only, and validation uses its own
seeded generators, so ``--resume`` after Ctrl-C or a crash ends with the same weights and
the same ``log.csv`` as an uninterrupted run with the same seed.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from molgen import paths
from molgen.checkpoint import load_checkpoint
from molgen.config import to_dict
from molgen.errors import InputError, MolgenError, UsageError
from molgen.precision import autocast, resolve_precision
from molgen.runtime import versions
from molgen.training.budget import budget_spent, log_budget_spent, spent_at_resume
from molgen.training.options import TrainOptions, check_resumed_data, data_record, read_training_smiles
from molgen.training.distributed import DistContext, Shard, start
from molgen.training.rng import capture_rng, derive_seed, restore_rng, set_seed
from molgen.training.rundir import RunDir, resolve_config
from molgen.training.runlog import CSVLogger, GracefulInterrupt, TensorBoardLogger
from molgen.vae.api import VAEModel, build_net, make_generator
from molgen.masking.codec import Codec, GrammarCodec, TokenCodec, codec_from_checkpoint, replay_ahead
from molgen.vae.config import VAEConfig, from_checkpoint_dict

log = logging.getLogger("molgen.vae.train")

LOG_COLUMNS = (
    "step", "epoch", "lr", "beta", "loss", "recon", "kl",
    "val_loss", "val_recon", "val_kl", "val_recon_acc", "val_valid", "val_out_of_length",
)

Callback = Callable[["VAETrainer"], None]

#: sub-seed streams of a run (see :func:`molgen.training.rng.derive_seed`)
VAL_NOISE, VAL_PRIOR = 1, 2


def cache_dir() -> Path:
    """Where encoded training sets are cached: ``encoded/`` under the cache root (:func:`molgen.paths.cache_dir`)."""
    return paths.cache_dir("encoded")


def epoch_batches(seed: int, epoch: int, lengths: np.ndarray, batch_size: int, bucket: int = 32) -> list[np.ndarray]:
    """Training batches of one epoch (positions into ``lengths``): a function of (seed, epoch) only.

    Shuffle, sort each run of ``bucket`` batches by length so a batch holds sequences of
    similar length (the padded tail is skipped, ~30 % less work on MOSES), then shuffle the
    batches.
    """
    rng = np.random.default_rng([seed, epoch])
    perm = rng.permutation(len(lengths))
    span = batch_size * bucket
    batches: list[np.ndarray] = []
    for i in range(0, len(perm), span):
        chunk = perm[i : i + span]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[j : j + batch_size] for j in range(0, len(chunk), batch_size)]
    return [batches[k] for k in rng.permutation(len(batches))]


def kl_weight(cfg: VAEConfig, step: int) -> float:
    """KL annealing: 0 until ``kl_anneal_start``, then linear up to ``kl_weight`` over ``kl_anneal_steps``."""
    t = cfg.train
    if t.kl_anneal_steps == 0:
        return t.kl_weight if step >= t.kl_anneal_start else 0.0
    return t.kl_weight * min(1.0, max(0.0, (step - t.kl_anneal_start) / t.kl_anneal_steps))



class VAETrainer:
    """Trains a :class:`~molgen.vae.model.SequenceVAE` on encoded sequences, with resumable state."""

    def __init__(
        self, config: VAEConfig, codec: Codec, ids: np.ndarray, smiles: Sequence[str], out: str | os.PathLike,
        *, device: str = "cpu", command: str = "", progress: bool = True, resume: dict | None = None,
        callbacks: Sequence[Callback] = (), data_info: dict | None = None, dist: DistContext | None = None,
    ) -> None:
        self.config = config
        self.codec = codec
        self.out = Path(out)
        self.run_dir = RunDir(out)
        self.device = torch.device(device)
        self.command = command
        self.progress = progress
        self.callbacks = list(callbacks)
        self.data_info = dict(data_info or {})
        self.dist = dist or DistContext(device=device)
        t = config.train
        self.ids = ids
        self.smiles = list(smiles)
        perm = np.random.default_rng(config.seed).permutation(len(ids))
        n_val = min(len(ids) - 1, max(1, int(round(len(ids) * t.val_fraction))))
        if n_val < 1 or len(ids) - n_val < 1:
            raise UsageError(f"need at least 2 encodable molecules to train, got {len(ids)}")
        self.val_idx = np.sort(perm[:n_val])[: t.val_max]
        self.train_idx = np.sort(perm[n_val:])
        self.train_lengths = (ids[self.train_idx] != codec.pad).sum(axis=1)
        self.n_batches = len(epoch_batches(config.seed, 0, self.train_lengths, t.batch_size))
        total = t.epochs * self.n_batches
        self.total_steps = min(total, t.max_steps) if t.max_steps else total

        self.net = build_net(config.model, codec).to(self.device)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=t.lr)
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer, mode="min", factor=t.lr_factor, patience=t.lr_patience, min_lr=t.min_lr,
        )
        self.generator = make_generator(config.seed, self.device)  # reparameterisation noise
        self.precision = resolve_precision(config.precision, self.device)  # a resumed run keeps its own
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.best_val = math.inf
        self.bad_evals = 0
        self.stop_reason: str | None = None
        #: the steps' wall-clock seconds so far (all sessions of the run), for ``max_minutes``
        self.train_seconds = 0.0
        self.interrupt = GracefulInterrupt()
        self.last_val: dict[str, float] = {}
        self._masks: dict[int, torch.Tensor] = {}
        self._sums = {"loss": 0.0, "recon": 0.0, "kl": 0.0, "n": 0}
        if resume is not None:
            self._restore(resume)
        self._loss = self.dist.wrap(self.net, "loss")  # after the restore: DDP starts every rank from rank 0's weights
        main = self.dist.is_main  # the other ranks of a torchrun launch write nothing
        self.csv = CSVLogger(self.run_dir.log_csv, resume_step=self.step if resume is not None else None) if main else None
        self.tb = TensorBoardLogger(self.out / "tensorboard", enabled=t.tensorboard and main)

    # ----------------------------------------------------------------- state
    def payload(self) -> dict[str, Any]:
        """The self-describing checkpoint dict (plain data and tensors only)."""
        return {
            "kind": self.codec.kind,
            "config": to_dict(self.config),
            "model": self.net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "step": self.step,
            "epoch": self.epoch,
            "command": self.command,
            "versions": versions(),
            "precision": self.precision,
            **self.codec.to_checkpoint(),
            "extra": {
                "max_len": self.codec.max_len,
                "batch_in_epoch": self.batch_in_epoch,
                "best_val": self.best_val,
                "bad_evals": self.bad_evals,
                "sums": dict(self._sums),
                "last_val": dict(self.last_val),
                "rng": capture_rng({"generator": self.generator}),
                "data": self.data_info,
                "stop_reason": self.stop_reason,
                "train_seconds": self.train_seconds,
            },
        }

    def _restore(self, ckpt: dict) -> None:
        self.net.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        extra = ckpt["extra"]
        self.step = int(ckpt["step"])
        self.epoch = int(ckpt["epoch"])
        self.batch_in_epoch = int(extra["batch_in_epoch"])
        self.best_val = float(extra["best_val"])
        self.bad_evals = int(extra["bad_evals"])
        self._sums = dict(extra["sums"])
        self.last_val = dict(extra.get("last_val", {}))
        self.stop_reason = extra.get("stop_reason")
        self.train_seconds = float(extra.get("train_seconds", 0.0))
        self.precision = ckpt.get("precision", self.precision)
        restore_rng(extra["rng"], {"generator": self.generator})
        log.info("resumed at step %d (epoch %d, batch %d)", self.step, self.epoch, self.batch_in_epoch)

    def save(self, name: str) -> Path:
        """Write ``checkpoints/<name>.pt`` atomically (rank 0, once every rank is seen to hold its weights)."""
        self.dist.check_same(self.net, f"step {self.step}")
        if not self.dist.is_main:
            return self.run_dir.path / "checkpoints" / f"{name}.pt"
        return self.run_dir.save(name, self.payload())

    def request_stop(self) -> None:
        """Stop after the current step as if Ctrl-C had been pressed (checkpoint, exit 130)."""
        self.interrupt.requested = True

    # ------------------------------------------------------------------ steps
    def _batch_masks(self, batches: list[np.ndarray], k: int) -> torch.Tensor | None:
        """The training mask of batch ``k`` of the epoch, for codecs whose masks need the semantic
        machine: replayed for :func:`~molgen.masking.codec.replay_ahead` batches at once (one
        machine run over many rows costs about what one over a single batch does), then handed
        out batch by batch. Under torchrun only this rank's rows of each batch are replayed."""
        if getattr(self.codec, "constraints", "grammar") != "semantic":
            return None
        if k not in self._masks:
            self._masks = {}
            ahead = range(k, min(k + replay_ahead(self.device), len(batches)))
            rows = [self.ids[self.train_idx[self.dist.shard(batches[j])]] for j in ahead]
            steps = max(int((r != self.codec.pad).sum(1).max()) for r in rows if len(r))
            x = torch.from_numpy(np.concatenate([r[:, :steps] for r in rows])).to(self.device)
            masks = self.codec.train_mask(x)
            lo = 0
            for j, r in zip(ahead, rows):
                self._masks[j] = masks[lo : lo + len(r)]
                lo += len(r)
        return self._masks.pop(k)

    def train_step(self, batch: torch.Tensor, masks: torch.Tensor | None = None,
                   shard: Shard | None = None) -> dict[str, float]:
        """One optimisation step on a batch of symbol ids (B, max_len); ``masks`` (B, >= steps, n_symbols)
        when they were computed ahead (else the codec's ``train_mask`` gives them). Under torchrun the
        batch is this rank's ``shard`` of the global batch, and the reported terms are the global batch's."""
        t = self.config.train
        self.net.train()
        mask_fn = self.codec.train_mask if masks is None else (lambda targets: masks[:, : targets.shape[1]])
        with autocast(self.device, self.precision):
            terms = self._loss(batch, mask_fn, t.free_bits, generator=self.generator, shard=shard)
        beta = kl_weight(self.config, self.step)
        self.optimizer.zero_grad(set_to_none=True)
        (terms.objective(beta) if shard is None else self._shard_objective(terms, beta, shard)).backward()
        torch.nn.utils.clip_grad_norm_(self.net.parameters(), t.grad_clip)
        self.optimizer.step()
        values = [float(terms.elbo_loss(beta).detach()), float(terms.recon.detach()), float(terms.kl.detach())]
        if shard is not None:  # each term is a mean over molecules: the global one is the weighted sum
            values = self.dist.all_reduce_sum([v * shard.weight / self.dist.world for v in values])
        return {"loss": values[0], "recon": values[1], "kl": values[2], "beta": beta}

    def _shard_objective(self, terms: Any, beta: float, shard: Shard) -> torch.Tensor:
        """This rank's part of the global batch's objective: DDP averages the ranks' gradients, so each
        rank's term is scaled by its share of the batch. Free bits floor each dimension's *global*
        batch mean, so the floor is decided on the all-reduced means."""
        kl = terms.kl_penalised
        floor = self.config.train.free_bits
        if floor > 0:
            share = shard.weight / self.dist.world
            means = self.dist.all_reduce_sum((terms.per_dim.detach() * share).tolist())
            above = torch.tensor(means, device=terms.per_dim.device) > floor
            kl = torch.where(above, terms.per_dim, torch.zeros_like(terms.per_dim)).sum()
        return (terms.recon + beta * kl) * shard.weight

    def train_batch(self, batches: list[np.ndarray], k: int) -> dict[str, float]:
        """:meth:`train_step` on batch ``k`` of an epoch's ``batches`` (:func:`epoch_batches`): the whole
        batch, or under torchrun this rank's rows ``rank::world`` of it."""
        whole = batches[k]
        shard = self.dist.batch_shard(np.ones(len(whole)), int(self.train_lengths[whole].max()))
        rows = whole if shard is None else whole[shard.rows]
        stand_in = shard is not None and shard.weight == 0  # a batch with fewer rows than ranks
        masks = None if stand_in else self._batch_masks(batches, k)
        return self.train_step(torch.from_numpy(self.ids[self.train_idx[rows]]).to(self.device), masks, shard)

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Validation ELBO (full KL weight), reconstruction and prior validity on a fixed batch.

        Uses generators seeded from the config seed, never the training RNG, so validating
        does not change the training trajectory.
        """
        from molgen.chem.mol import canonical_smiles

        t = self.config.train
        self.net.eval()
        gen = make_generator(derive_seed(self.config.seed, VAL_NOISE), self.device)
        recon_sum = kl_sum = 0.0
        for i in range(0, len(self.val_idx), t.batch_size):
            x = torch.from_numpy(self.ids[self.val_idx[i : i + t.batch_size]]).to(self.device)
            with autocast(self.device, self.precision):
                terms = self.net.loss(x, self.codec.train_mask, generator=gen)
            recon_sum += float(terms.recon) * len(x)
            kl_sum += float(terms.kl) * len(x)
        n = len(self.val_idx)
        model = VAEModel(self.net, self.codec, self.config.model, {}, device=str(self.device))
        model.precision = self.precision
        sub = self.val_idx[: t.val_decode]
        mu, _ = self.net.encoder(torch.from_numpy(self.ids[sub]).to(self.device))
        decoded = model.decode_details(mu, greedy=True).smiles
        recon_acc = float(np.mean([canonical_smiles(d) == self.smiles[j] if d else False for d, j in zip(decoded, sub)]))
        prior = model.sample_details(t.val_decode, seed=derive_seed(self.config.seed, VAL_PRIOR), batch_size=t.val_decode)
        valid = float(np.mean([bool(s) and canonical_smiles(s) is not None for s in prior.smiles]))
        self.net.train()
        return {
            "val_loss": (recon_sum + t.kl_weight * kl_sum) / n, "val_recon": recon_sum / n, "val_kl": kl_sum / n,
            "val_recon_acc": recon_acc, "val_valid": valid, "val_out_of_length": float(prior.out_of_length.mean()),
        }

    def _after_validation(self, metrics: dict[str, float]) -> None:
        self.last_val = metrics
        self.scheduler.step(metrics["val_loss"])
        if metrics["val_loss"] < self.best_val - 1e-6:
            self.best_val = metrics["val_loss"]
            self.bad_evals = 0
            self.save("best")
        else:
            self.bad_evals += 1
            if self.bad_evals >= self.config.train.early_stop_patience:
                self.stop_reason = f"early stop: no validation improvement in {self.bad_evals} evaluations"

    def _log(self, val: dict[str, float] | None) -> None:
        n = max(1, self._sums["n"])
        row: dict[str, Any] = {
            "step": self.step, "epoch": self.epoch, "lr": self.optimizer.param_groups[0]["lr"],
            "beta": kl_weight(self.config, self.step),
            "loss": self._sums["loss"] / n, "recon": self._sums["recon"] / n, "kl": self._sums["kl"] / n,
        }
        for key in LOG_COLUMNS[7:]:
            row[key] = val[key] if val else ""
        if self.csv is not None:
            self.csv.log(row)
        self.tb.log(row, self.step)
        self._sums = {"loss": 0.0, "recon": 0.0, "kl": 0.0, "n": 0}

    # -------------------------------------------------------------------- run
    def run(self) -> int:
        """Train until the epochs / max_steps are done or early stopping; 130 if interrupted."""
        from tqdm.auto import tqdm

        t = self.config.train
        log.info("training %s on %s, precision %s", self.codec.kind, self.device, self.precision)
        bar = tqdm(total=self.total_steps, initial=self.step, disable=not self.progress, unit="step",
                   desc=f"train {self.codec.kind}", dynamic_ncols=True)
        try:
            with self.interrupt:
                while self.step < self.total_steps and self.stop_reason is None:
                    if self.batch_in_epoch >= self.n_batches:  # resumed on smaller data (--allow-data-change)
                        self.epoch, self.batch_in_epoch = self.epoch + 1, 0
                    batches = epoch_batches(self.config.seed, self.epoch, self.train_lengths, t.batch_size)
                    while self.batch_in_epoch < self.n_batches and self.step < self.total_steps:
                        if budget_spent(self.config.max_minutes, self.train_seconds, self.dist):  # no step starts after
                            self.save("last")
                            self.dist.barrier()
                            log_budget_spent(log, self.config.max_minutes, self.train_seconds, f"step {self.step}")
                            return 0
                        t0 = time.perf_counter()
                        metrics = self.train_batch(batches, self.batch_in_epoch)
                        self.train_seconds += time.perf_counter() - t0
                        if not math.isfinite(metrics["loss"]):
                            raise MolgenError(f"step {self.step + 1}: the loss is {metrics['loss']} (training diverged; "
                                              f"lower train.lr); {self.run_dir.last} keeps the last finite state")
                        self.step += 1
                        self.batch_in_epoch += 1
                        for k in ("loss", "recon", "kl"):
                            self._sums[k] += metrics[k]
                        self._sums["n"] += 1
                        end_of_epoch = self.batch_in_epoch >= self.n_batches
                        if end_of_epoch:
                            self.epoch += 1
                            self.batch_in_epoch = 0
                        val = None
                        if self.step % t.val_every == 0 or end_of_epoch or self.step == self.total_steps:
                            val = self.dist.broadcast(self.validate() if self.dist.is_main else None)
                            self._after_validation(val)
                        if val is not None or self.step % self.config.log_every == 0:
                            self._log(val)
                        bar.update(1)
                        bar.set_postfix(
                            loss=f"{metrics['loss']:.2f}", recon=f"{metrics['recon']:.2f}", kl=f"{metrics['kl']:.2f}",
                            valid=f"{self.last_val.get('val_valid', float('nan')):.2f}", refresh=False,
                        )
                        for cb in self.callbacks:
                            cb(self)
                        if self.step % self.config.checkpoint_every == 0 or end_of_epoch or self.step == self.total_steps:
                            self.save("last")
                        if self.dist.any(self.interrupt.requested):  # every rank stops at the same step
                            self.save("last")
                            self.dist.barrier()  # no rank leaves (and has torchrun end the others) before rank 0 saved
                            log.warning("stopped at step %d; continue with --resume", self.step)
                            return 130
                        if self.stop_reason is not None or end_of_epoch:
                            break
            self.save("last")
            log.info("finished at step %d (%s); best validation loss %.4f",
                     self.step, self.stop_reason or "schedule done", self.best_val)
            return 0
        finally:
            bar.close()
            self.tb.close()


#: Settings ``--resume --config`` may change. Training longer gives the same result as a run
#: configured that long from the start (data order and schedules depend on the step only) when
#: the old last step was a regular validation step (a multiple of ``val_every``).
EXTENDABLE = ("train.max_steps", "train.epochs", "max_minutes")


def _warm_start(trainer: VAETrainer, init: dict, path: str, config_path: Any) -> None:
    """Load a checkpoint's weights into a fresh run (``train.init_checkpoint``); sizes must match."""
    try:
        trainer.net.load_state_dict(init["model"])
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise UsageError(f"{config_path}: train.init_checkpoint {path} does not fit this [model] config "
                         f"(the sizes must be the checkpoint's): {' '.join(first[1:3]) or first[0]}") from exc
    source = {"path": str(path), "step": int(init.get("step", 0)), "command": init.get("command", "")}
    parent = init.get("extra", {}).get("data", {}).get("init_checkpoint")
    if parent:  # a chain of warm starts keeps its whole lineage, one nested record per leg
        source["init_checkpoint"] = parent
    trainer.data_info["init_checkpoint"] = source
    log.info("warm start from %s (step %s)", path, init.get("step"))


def train_from_options(opts: TrainOptions, callbacks: Sequence[Callback] = ()) -> int:
    """``molgen train gvae|cvae``: validate the config, encode the data (cached), train, checkpoint.

    The run folder is locked for the whole run; a start that fails leaves no run folder behind."""
    with start(opts.device, opts.dist_backend) as dist, RunDir(opts.out).session(main=dist.is_main) as run_dir:
        return _train(replace(opts, progress=opts.progress and dist.is_main), run_dir, callbacks, dist)


def _train(opts: TrainOptions, run_dir: RunDir, callbacks: Sequence[Callback], dist: DistContext) -> int:
    resume = run_dir.load_last(opts.kind) if opts.resume else None
    if resume is None:
        run_dir.check_new()
    config = resolve_config(
        VAEConfig, config_path=opts.config, seed=opts.seed, extendable=EXTENDABLE, where=f"the run in {run_dir.path}",
        stored=from_checkpoint_dict(resume["config"], f"{run_dir.last}: config") if resume is not None else None,
        precision=opts.precision, max_minutes=opts.max_minutes,
    )
    if resume is not None and spent_at_resume(log, config.max_minutes, resume.get("extra", {}), dist,
                                              f"step {int(resume['step'])}"):
        return 0
    init = None  # checked before anything is written to the run folder
    if resume is None and config.train.init_checkpoint:
        init = load_checkpoint(config.train.init_checkpoint, kind=opts.kind)
        stored = (init.get("grammar") or {}).get("name", config.grammar) if opts.kind == "gvae" else config.grammar
        if stored != config.grammar:
            raise UsageError(f"{opts.config}: grammar {config.grammar!r} differs from {config.train.init_checkpoint}'s "
                             f"{stored!r}; a warm start keeps the checkpoint's grammar")
    device = dist.device
    record = data_record(opts.data)
    if resume is not None:
        check_resumed_data(resume.get("extra", {}).get("data", {}), record, allow=opts.allow_data_change, run=run_dir.path)
    set_seed(config.seed)
    if dist.is_main:
        run_dir.write_config(config)

    smiles = read_training_smiles(opts, config.max_molecules)
    if resume is not None:
        codec = codec_from_checkpoint(resume)
    elif init is not None:
        codec = codec_from_checkpoint(init)
    elif opts.kind == "gvae":
        codec = GrammarCodec.from_data(config.grammar, constraints=config.resolved_constraints())
        codec.max_len = config.train.max_len
    else:
        codec = TokenCodec.from_data(smiles, min_count=config.min_token_count)
        codec.max_len = config.train.max_len
    enc = codec.encode(smiles, cache_dir=cache_dir(), progress=opts.progress, margin=config.len_margin(opts.kind),
                       device=device)
    kept = [s for s, k in zip(smiles, enc.keep) if k]
    log.info("encoded %d of %d molecules for %s (max_len %d); %d not encodable%s",
             len(kept), len(smiles), opts.kind, codec.max_len, enc.n_failed,
             f", e.g. {smiles[enc.failures[0][0]]!r}: {enc.failures[0][1]}" if enc.failures else "")
    if len(kept) < 2:
        example = f"; e.g. {smiles[enc.failures[0][0]]!r}: {enc.failures[0][1]}" if enc.failures else ""
        raise InputError(f"{opts.data}: only {len(kept)} of {len(smiles)} molecules can be encoded for {opts.kind} "
                         f"(max_len {codec.max_len}); at least 2 are needed{example}")
    data_info = {**record, "n_molecules": len(smiles), "n_encoded": len(kept), "n_failed": int(enc.n_failed)}
    if resume is not None:  # what the run recorded at its start (its warm-start source) survives a resume
        data_info = {**resume.get("extra", {}).get("data", {}), **data_info}
    trainer = VAETrainer(
        config, codec, enc.ids[enc.keep], kept, run_dir.path, device=device, command=opts.command,
        progress=opts.progress, resume=resume, callbacks=callbacks, data_info=data_info, dist=dist,
    )
    if init is not None:
        _warm_start(trainer, init, config.train.init_checkpoint, opts.config)
    if resume is not None and (trainer.step >= trainer.total_steps or trainer.stop_reason):
        log.info("run in %s is already complete (step %d)", run_dir.path, trainer.step)
        return 0
    return trainer.run()
