"""``molgen dashboard``: command line, argument checks, and the script that starts it."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from molgen.cli import build_parser, main
from molgen.commands import dashboard
from molgen.paths import ROOT



def test_streamlit_command_is_headless_and_loopback_only():
    cmd = dashboard.streamlit_command(8123)
    assert cmd[1:4] == ["-m", "streamlit", "run"] and cmd[4].endswith("apps/dashboard.py")
    opts = dict(zip(cmd[5::2], cmd[6::2]))
    assert opts["--server.headless"] == "true"
    assert opts["--server.address"] == "127.0.0.1"
    assert opts["--server.port"] == "8123"
    assert opts["--browser.gatherUsageStats"] == "false"
    assert dashboard.APP.is_file()


def test_free_port_is_bindable():
    port = dashboard.free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_command_is_discovered_with_help():
    args = build_parser().parse_args(["dashboard", "--port", "8555", "--models-dir", "x"])
    assert args.port == 8555 and args.models_dir == Path("x")


@pytest.mark.parametrize("argv,message", [
    (["dashboard", "--port", "70000"], "between 1 and 65535"),
    (["dashboard", "--models-dir", "/no/such/folder"], "no such directory"),
])
def test_bad_arguments_fail_with_a_usage_error(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_wait_until_ready_gives_up_when_the_server_dies():
    proc = subprocess.Popen(["true"])
    proc.wait()
    assert dashboard.wait_until_ready("http://127.0.0.1:9", proc, timeout=5) is False


def test_dashboard_script_is_valid_bash():
    script = ROOT / "scripts" / "dashboard.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    text = script.read_text()
    assert "scripts/install.sh" in text and "molgen dashboard" in text


def test_host_other_than_loopback_warns_that_there_is_no_authentication():
    assert dashboard.check_host("127.0.0.1") is None
    warning = dashboard.check_host("0.0.0.0")
    assert "NO authentication" in warning and "0.0.0.0" in warning
    opts = dict(zip(dashboard.streamlit_command(8123, host="0.0.0.0")[5::2], dashboard.streamlit_command(8123, host="0.0.0.0")[6::2]))
    assert opts["--server.address"] == "0.0.0.0"


def test_unresolvable_host_is_a_usage_error(capsys):
    assert main(["dashboard", "--host", "no-such-host.invalid"]) == 2
    assert "--host no-such-host.invalid" in capsys.readouterr().err
