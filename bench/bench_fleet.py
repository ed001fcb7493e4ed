#!/usr/bin/env python3
"""The fleet machinery's own overhead: `preflight.yml` over N simulated hosts (each its own sshd on
loopback, already provisioned) against the same N doctor runs started directly and concurrently, as the
playbook runs them. Overhead per host = (playbook wall - direct wall) / N. Goal: <= 1 s per host.

    python bench/bench_fleet.py [--hosts 10] [--runs 3]

Needs root (bridges, sshd), ansible-core and openssh-server (the test extra and .ci/services.sh)."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fleet.hosts import fleet, wheelhouse  # noqa: E402
from tests.fleet.test_ansible_fleet import ONLY, playbook  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=10)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmpd:
        tmp = Path(tmpd)
        os.chmod(tmp, 0o755)
        wh = wheelhouse(tmp / "wheelhouse")
        (tmp / "hosts").mkdir()
        with fleet(tmp / "hosts", f"ag{os.getpid() % 10000}b", args.hosts) as fl:
            t0 = time.perf_counter()
            playbook(fl, tmp / "reports", wh)  # provisions: venvs, profiles
            print(f"provisioning {args.hosts} hosts: {time.perf_counter() - t0:.1f} s (not counted)")
            plays, direct = [], []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                playbook(fl, tmp / "reports", wh)
                plays.append(time.perf_counter() - t0)

                def one(h):  # the same command the role runs, without Ansible
                    doctor = h.home / "venv" / "bin" / "autoglm-doctor"
                    argv = [str(doctor), "check", "--format", "json", "--config", str(h.home / "profile.toml"),
                            "--fail-on", "high", "--timeout", "30", *[f"--only={c}" for c in ONLY]]
                    return subprocess.run(argv, capture_output=True, timeout=600).returncode

                t0 = time.perf_counter()
                with ThreadPoolExecutor(max_workers=args.hosts) as pool:
                    codes = list(pool.map(one, fl.hosts))
                direct.append(time.perf_counter() - t0)
                assert set(codes) <= {0, 1}, codes
    p, d = statistics.median(plays), statistics.median(direct)
    per_host = (p - d) / args.hosts
    print(json.dumps({"hosts": args.hosts, "cores": os.cpu_count(), "playbook_wall_s": [round(x, 2) for x in plays],
                      "direct_wall_s": [round(x, 2) for x in direct]}))
    print(f"playbook median {p:.1f} s, the same checks run directly {d:.1f} s: "
          f"overhead {per_host:.2f} s per host (goal <= 1 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
