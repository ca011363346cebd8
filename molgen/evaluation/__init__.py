"""Evaluation of generated molecules and of models, and the one report schema.

- :mod:`~molgen.evaluation.scoring`: a set of SMILES -> distribution metrics
  (:mod:`molgen.metrics`); a model -> ``n`` samples scored, plus the VAE measures for latent
  models (:func:`molgen.evaluation.vae.vae_measures`, kept out of this namespace so that
  importing the package does not import torch); references read once, statistics cached.
- :mod:`~molgen.evaluation.goals`: optional goal tables (``organ-qed``).
- :mod:`~molgen.evaluation.report`: build, write, load (old shapes too) and flatten reports.

``molgen evaluate`` is a thin command line over this package; ``report.json`` of every
shipped model and training run has this one shape::

    {
      "schema": "molgen-report", "version": 1,
      "created": "2025-01-01T12:00:00+00:00", "molgen_version": "0.1.0",
      "versions": {"molgen": "0.1.0", "torch": "...", "rdkit": "...", ...},
      "command": "molgen evaluate --model gvae -n 10000 --seed 0 --n-stochastic 10 --report-dir data/models/gvae",
      "settings": {"n_samples": 10000, "seed": 0, "temperature": 1.0, "precision": "fp32", "n_recon": 1000, "n_stochastic": 10,
                   "train": "data/moses/train.csv.gz", "test": "data/moses/test.csv.gz",
                   "test_scaffolds": "data/moses/test_scaffolds.csv.gz",
                   "fcd": "fcd-torch 1.0.7 (shipped ChemNet weights)", "goals": null},
      "models": {
        "gvae": {
          "source": "data/models/gvae/model.pt", "kind": "gvae",
          "metrics": {"valid": 0.49, "unique@10k": 0.996, "fcd/test": 4.32, ...},
          "vae": {"reconstruction": 0.64, "prior_validity": 0.49, ...},
          "goals": {"set": "organ-qed", "train_qed_mean": 0.807,
                    "checks": {"valid": {"target": ">= 0.95", "value": 0.958, "met": true}, ...}},
          "sampling_seconds": 12.3, "precision": "fp32"
        }
      }
    }

``settings.n_samples`` … ``precision`` (the sampling precision, :mod:`molgen.precision`) are
present when models were sampled, ``n_recon``
and ``n_stochastic`` when a VAE was measured; a model's
``vae`` only for latent models (VAEs), ``goals`` only with ``--goals``, ``sampling_seconds``
and ``precision`` only for models; a file of SMILES has ``"kind": "file"``. Undefined values (NaN) are null.
A run folder's report holds the one model of that run; ``molgen evaluate -o x.json`` may
hold several side by side. :func:`flat_metrics` gives ``{label: {metric: value}}`` for
tables; :func:`load_report` reads this schema and the three shapes written before it.
"""

from molgen.evaluation.goals import GOAL_SETS, add_goals, training_qed
from molgen.evaluation.report import (
    SCHEMA,
    VERSION,
    flat_metrics,
    format_markdown,
    load_report,
    model_label,
    new_report,
    normalize_report,
    render_markdown,
    write_report,
)
from molgen.evaluation.scoring import (
    DEFAULT_REFERENCES,
    References,
    Settings,
    read_raw_smiles,
    score_file,
    score_model,
    score_smiles,
    settings_section,
)

__all__ = [
    "DEFAULT_REFERENCES", "GOAL_SETS", "References", "SCHEMA", "Settings", "VERSION", "add_goals", "flat_metrics",
    "format_markdown", "load_report", "model_label", "new_report", "normalize_report", "read_raw_smiles", "render_markdown",
    "score_file", "score_model", "score_smiles", "settings_section", "training_qed", "write_report",
]
