"""``molgen dashboard``: start the Streamlit dashboard headless (loopback by default, ``--host`` for a lab
server, with a no-authentication warning) and print its URL."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from molgen.commands import _args
from molgen import paths
from molgen.errors import MolgenError, UsageError

NAME = "dashboard"
HELP = "start the Streamlit dashboard (generate, inspect, latent space, training runs)"
DESCRIPTION = """Start the dashboard headless on 127.0.0.1 and print its URL; Ctrl-C stops it.

examples:
  molgen dashboard                          # a free port, the shipped models
  molgen dashboard --port 8501
  molgen dashboard --models-dir data/models # offer the models of a folder (<name>/model.pt)
  molgen dashboard --host 0.0.0.0 --port 8501   # a lab server: every network interface

By default only this machine can connect (the server listens on the loopback address).
--host opens it to the network: the dashboard has NO authentication, so anyone who can reach
the port can use it, its models and the files it reads; use it only on a trusted network (or
behind an authenticating proxy / SSH tunnel)."""

APP = paths.APPS_DIR / "dashboard.py"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def streamlit_command(port: int, app: Path = APP, host: str = "127.0.0.1") -> list[str]:
    """The ``streamlit run`` command line for the dashboard: headless, loopback only, no telemetry."""
    return [
        sys.executable, "-m", "streamlit", "run", str(app),
        "--server.headless", "true",
        "--server.address", host,
        "--server.port", str(port),
        "--server.fileWatcherType", "none",
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "minimal",
        "--client.showErrorDetails", "none",
    ]


def wait_until_ready(url: str, proc: subprocess.Popen, timeout: float = 120.0) -> bool:
    """Poll Streamlit's health endpoint until it answers (True), the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url.rstrip("/") + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.3)
    return False


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def check_host(host: str) -> str | None:
    """Refuse an address this machine cannot listen on; the no-authentication warning for any
    address but the loopback one (None for loopback)."""
    try:
        socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError) as exc:
        raise UsageError(f"--host {host}: not an address of this machine ({exc})") from None
    if host in LOOPBACK:
        return None
    return (f"listening on {host}: the dashboard has NO authentication; anyone who can reach this port can use it, "
            "its models and the files it reads (use a trusted network, an SSH tunnel or an authenticating proxy)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1, this machine only; 0.0.0.0: every interface, NO authentication)")
    p.add_argument("--port", type=_args.positive_int, help="port to listen on (default: a free one)")
    p.add_argument("--models-dir", type=Path,
                   help="folder of model directories (<name>/model.pt) to offer instead of data/models")


def run(args: argparse.Namespace) -> int:
    if not APP.is_file():
        raise MolgenError(f"{APP}: dashboard app not found (run from a source checkout: pip install -e .)")
    if args.port is not None and not 1 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: must be between 1 and 65535")
    env = dict(os.environ)
    if args.models_dir is not None:
        if not args.models_dir.is_dir():
            raise UsageError(f"--models-dir {args.models_dir}: no such directory")
        env["MOLGEN_MODELS_DIR"] = str(args.models_dir.resolve())
    env.setdefault("STREAMLIT_BROWSER_GATHER_USAGE_STATS", "false")
    warning = check_host(args.host)
    if warning:
        print(f"molgen dashboard: WARNING: {warning}", file=sys.stderr, flush=True)
    port = args.port or free_port("127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host)
    local = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    url = f"http://{local}:{port}"
    proc = subprocess.Popen(streamlit_command(port, host=args.host), env=env, stdout=subprocess.DEVNULL)

    def _on_sigterm(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    old_handler = signal.signal(signal.SIGTERM, _on_sigterm)  # stop the server with us, not orphan it
    try:
        if not wait_until_ready(url, proc):
            code = proc.poll()
            raise MolgenError(f"the dashboard did not start (streamlit exit code {code}); see the messages above")
        shown = url if args.host == local else f"{url} (and http://{socket.gethostname()}:{port} on the network)"
        print(f"molgen dashboard: {shown}  (Ctrl-C to stop)", flush=True)
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, old_handler)
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
