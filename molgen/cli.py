"""The ``molgen`` command line.

Each sub-command lives in its own module under :mod:`molgen.commands` and defines
``NAME``, ``HELP``, ``DESCRIPTION`` (with examples), ``add_arguments(parser)`` and
``run(args) -> int``. They are discovered here, so adding a command is adding a file.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import signal
import sys
import threading
from types import ModuleType
from typing import NoReturn

import molgen
import molgen.commands
from molgen.errors import MolgenError, Terminated, UsageError
from molgen.runtime import apply_thread_policy

log = logging.getLogger("molgen")


def _command_modules() -> list[ModuleType]:
    mods = []
    for info in sorted(pkgutil.iter_modules(molgen.commands.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        mods.append(importlib.import_module(f"molgen.commands.{info.name}"))
    return mods


class Parser(argparse.ArgumentParser):
    """argparse with usage errors raised as :class:`UsageError` (one line and exit 2 from :func:`main`,
    like every other usage error) instead of printing the usage block and exiting the process."""

    def error(self, message: str) -> NoReturn:
        exc = UsageError(f"{message} (see '{self.prog} --help')")
        exc.prog = self.prog  # "molgen filter": the message starts like the command's own errors
        raise exc


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="molgen",
        description="Molecule generation (Grammar VAE, character VAE, ORGAN) with RDKit properties, "
        "filters and benchmark metrics.",
        epilog="Run 'molgen COMMAND --help' for a command's options and examples.",
    )
    parser.add_argument("--version", action="version", version=f"molgen {molgen.__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in _command_modules():
        p = sub.add_parser(
            mod.NAME,
            help=mod.HELP,
            description=getattr(mod, "DESCRIPTION", mod.HELP),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def _raise_terminated(signum: int, frame) -> None:
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the command; returns the exit code (2 for usage errors)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        print(f"{getattr(exc, 'prog', 'molgen')}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return 2
    if "torch" not in sys.modules:  # the policy only takes effect before torch's OpenMP starts
        chosen = apply_thread_policy()
        log.debug("thread policy: %s", " ".join(f"{k}={v}" for k, v in chosen.items()) or "as set by the environment")
    # SIGTERM unwinds like Ctrl-C (worker pools ended, temp files removed) instead of killing
    # the process where it stands; a training run installs its own graceful handler on top.
    old_term = signal.signal(signal.SIGTERM, _raise_terminated) if threading.current_thread() is threading.main_thread() else None
    try:
        return int(args._run(args) or 0)
    except MolgenError as exc:
        print(f"molgen {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        terminated = isinstance(exc, Terminated)
        print(f"molgen {args.command}: {'terminated' if terminated else 'interrupted'}", file=sys.stderr)
        return 143 if terminated else 130
    finally:
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)


def entry() -> None:  # pragma: no cover - process entry
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    entry()
