"""Options and checks shared by the commands that read molecule files and write tables."""

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
