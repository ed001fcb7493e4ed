#!/usr/bin/env python3
"""The host-family suite over ssh to loopback against the same suite run locally (goal: within 3x).

    sudo python bench/bench_ssh_target.py [--runs 7]

Starts a real OpenSSH sshd on 127.0.0.1 (tests/sshd.py: its own port, generated host and user keys,
nothing in ~/.ssh touched), compiles the package's bytecode first (this machine sets
PYTHONDONTWRITEBYTECODE=1, an installed package has its cache), then times median wall times of whole
processes:
  - autoglm-doctor check --only 'host.*' --format json                          (the reference)
  - the same with --target ssh://root@127.0.0.1:PORT --identity … --ssh-config …
and prints both, their ratio, how many findings each made, and the session's cost split: connecting
(ssh handshake + the helper's start) and one read round trip.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.sshd import available, running_sshd  # noqa: E402

SUITE = ["check", "--only", "host.*", "--format", "json"]


def timed(argv: list[str], env: dict[str, str], runs: int) -> tuple[float, list[float], dict]:
    times, report = [], {}
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, env=env)
        times.append(time.perf_counter() - start)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()[-300:]}")
        report = json.loads(proc.stdout)
    return statistics.median(times), times, report


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    if not available():
        print("needs root, /usr/sbin/sshd and ssh (apt-get install openssh-server openssh-client)", file=sys.stderr)
        return 2
    for pkg in ("autoglm_doctor", "checks", "fixes"):
        compileall.compile_dir(str(ROOT / pkg), quiet=1)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(ROOT)
    cli = [sys.executable, "-m", "autoglm_doctor"]
    with tempfile.TemporaryDirectory(prefix="autoglm-bench-ssh-") as tmp, running_sshd(Path(tmp)) as sshd:
        remote = ["--target", sshd.spec, "--identity", sshd.user_key, "--ssh-config", sshd.client_config]
        timed(cli + SUITE, env, 1)  # warm up both (page cache, sshd's first fork)
        timed(cli + SUITE + remote, env, 1)
        local_s, local_all, local_report = timed(cli + SUITE, env, args.runs)
        ssh_s, ssh_all, ssh_report = timed(cli + SUITE + remote, env, args.runs)

        from autoglm_doctor.targets.ssh import SshTarget, parse_ssh_spec

        start = time.perf_counter()
        target = SshTarget(parse_ssh_spec(sshd.spec), identity=sshd.user_key, ssh_config=sshd.client_config)
        connect = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(200):
            target.read_bytes("/proc/sys/kernel/osrelease")
        round_trip = (time.perf_counter() - start) / 200
        target.close()

    def status(report: dict) -> str:
        s = report["summary"]
        return f"{len(report['findings'])} findings ({s['pass']} pass, {s['skip']} skip, {s['error']} error)"

    print(f"runs per side: {args.runs} (median wall time of a whole process)")
    print(f"local  check --only 'host.*':        {local_s * 1000:8.1f} ms   {status(local_report)}")
    print(f"ssh    check --only 'host.*':        {ssh_s * 1000:8.1f} ms   {status(ssh_report)}")
    print(f"ratio ssh/local:                     {ssh_s / local_s:8.2f} x   (goal <= 3x)")
    print(f"ssh session: connect + helper start  {connect * 1000:8.1f} ms; one read round trip {round_trip * 1e6:.0f} us")
    print(f"all local runs (s): {' '.join(f'{t:.3f}' for t in local_all)}")
    print(f"all ssh runs (s):   {' '.join(f'{t:.3f}' for t in ssh_all)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
