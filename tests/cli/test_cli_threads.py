"""The CLI's CPU thread policy: passive OpenMP waiting and threads from the free cores, set before
torch loads, the user's own settings kept."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from molgen.runtime import apply_thread_policy, free_cores

ROOT = Path(__file__).resolve().parents[2]


def test_policy_is_passive_with_free_cores_and_keeps_user_settings():
    env: dict[str, str] = {}
    assert apply_thread_policy(env) == env and env["OMP_WAIT_POLICY"] == "PASSIVE"
    assert 1 <= int(env["OMP_NUM_THREADS"]) <= (os.cpu_count() or 1)
    mine = {"OMP_WAIT_POLICY": "ACTIVE", "OMP_NUM_THREADS": "7"}
    assert apply_thread_policy(mine) == {} and mine == {"OMP_WAIT_POLICY": "ACTIVE", "OMP_NUM_THREADS": "7"}
    assert apply_thread_policy({"MOLGEN_THREADS": "3"})["OMP_NUM_THREADS"] == "3"
    assert apply_thread_policy({"MOLGEN_THREADS": "torch"}) == {}
    assert 1 <= free_cores() <= (os.cpu_count() or 1)


def test_the_cli_sets_it_before_torch_loads():
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "MOLGEN_THREADS")}
    code = ("import os, sys; from molgen.cli import main; main(['cache', 'info']); import torch; "
            "print(os.environ['OMP_WAIT_POLICY'], os.environ['OMP_NUM_THREADS'], torch.get_num_threads())")
    out = subprocess.run([sys.executable, "-c", code], env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True,
                         text=True, timeout=120, check=True).stdout.splitlines()[-1].split()
    assert out[0] == "PASSIVE" and out[1] == out[2]
