"""``molgen dashboard``: start the Streamlit dashboard headless on a local port and print its URL."""

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
  molgen dashboard --models-dir runs/       # offer my own trained models as 'shipped' ones

Only this machine can connect (the server listens on the loopback address)."""

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


def add_arguments(p: argparse.ArgumentParser) -> None:
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
    port = args.port or free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(streamlit_command(port), env=env, stdout=subprocess.DEVNULL)

    def _on_sigterm(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    old_handler = signal.signal(signal.SIGTERM, _on_sigterm)  # stop the server with us, not orphan it
    try:
        if not wait_until_ready(url, proc):
            code = proc.poll()
            raise MolgenError(f"the dashboard did not start (streamlit exit code {code}); see the messages above")
        print(f"molgen dashboard: {url}  (Ctrl-C to stop)", flush=True)
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
