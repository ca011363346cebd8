"""Run plumbing shared by every model family. Each family keeps its own short loop
(``molgen/<family>/trainer.py``) built on these pieces:

- :mod:`~molgen.training.options`: ``TrainOptions`` and ``train()``, dispatched through :mod:`molgen.families`
- :mod:`~molgen.training.rundir`: the run folder (config, log, checkpoints) and ``resolve_config``
  (``--config``/``--seed`` on a fresh run and on ``--resume``, one rule for every family)
- :mod:`~molgen.training.rng`: ``set_seed``, ``derive_seed``, RNG capture/restore for exact resume
- :mod:`~molgen.training.runlog`: the CSV step log, TensorBoard mirror, Ctrl-C/SIGTERM handling
- :mod:`~molgen.training.distributed`: training under ``torchrun`` (DDP; rank 0 writes the run folder)

Only the light options module is imported here, so the CLI can list commands without torch.
"""

from molgen.training.options import TrainOptions, train

__all__ = ["TrainOptions", "train"]
