"""Options and checks shared by the commands: molecule-size limits of the file commands, the metrics' reference sets."""

from __future__ import annotations

import argparse


def add_size_limits(parser: argparse.ArgumentParser) -> None:
    """``--max-atoms`` / ``--max-chars``: the molecule-size guard applied before RDKit parses a record."""
    # defaults are SizeLimits' (not imported here: it pulls RDKit into 'molgen --help')
    parser.add_argument("--max-atoms", type=int, default=None, metavar="N",
                        help="skip (and report) molecules with more heavy atoms (default 500)")
    parser.add_argument("--max-chars", type=int, default=None, metavar="N",
                        help="skip (and report) SMILES longer than this (default 10,000)")


def size_limits(args: argparse.Namespace):
    """The :class:`~molgen.chem.mol.SizeLimits` the options ask for (a bad value is a usage error)."""
    from molgen.chem.mol import SizeLimits

    given = {"max_heavy_atoms": args.max_atoms, "max_chars": args.max_chars}
    return SizeLimits(**{k: v for k, v in given.items() if v is not None})


def add_reference_sets(parser: argparse.ArgumentParser) -> None:
    """``--train``/``--test``/``--test-scaffolds``: the reference sets of the metrics (``evaluate``, ``cache build``)."""
    from molgen.evaluation.scoring import DEFAULT_REFERENCES

    parser.add_argument("--train", default=str(DEFAULT_REFERENCES["train"]), metavar="PATH",
                        help="training set for novelty and KL ('none' to skip; default: shipped MOSES train)")
    parser.add_argument("--test", default=str(DEFAULT_REFERENCES["test"]), metavar="PATH",
                        help="test set for FCD/SNN/Frag/Scaf and properties ('none' to skip; default: MOSES test)")
    parser.add_argument("--test-scaffolds", default=str(DEFAULT_REFERENCES["test_scaffolds"]), metavar="PATH",
                        help="scaffold test set ('none' to skip; default: MOSES scaffold test)")


def add_scheduler(parser: argparse.ArgumentParser, partitions: bool = True) -> None:
    """``--scheduler`` (a Dask cluster: ADDRESS or local:N; default $MOLGEN_SCHEDULER) and, for
    file inputs, ``--partition-size``."""
    from molgen.commands._args import byte_size

    parser.add_argument("--scheduler", metavar="ADDRESS", default=None,
                        help="run on a Dask cluster: a scheduler address (tcp://host:8786) or local:N for "
                             "N local worker processes (default: $MOLGEN_SCHEDULER; none: this machine's pool)")
    if partitions:
        parser.add_argument("--partition-size", type=byte_size, default=None, metavar="BYTES",
                            help="with --scheduler: a large text input is cut into byte ranges of about "
                                 "this size, one task each (default: about four per worker, 64K to 64M); "
                                 "each file of a directory or glob is a partition of its own")
