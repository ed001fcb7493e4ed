#!/usr/bin/env python3
"""The fleet machinery's own overhead: `preflight.yml` over N simulated hosts (each its own sshd on
loopback) against the same N doctor runs started directly and concurrently, as the playbook runs them.

    python bench/bench_fleet.py [--hosts 10] [--runs 3]

Overhead per host = (playbook wall - direct wall) / N, in the steady state: the hosts are provisioned (the
first run, which installs, is timed and printed apart as "cold"), so a run is what a fleet sees every day.
Goal: <= 1 s per host, judged on the steady-state median. On 2 cores every simulated host shares the
controller's CPUs, so the CPU seconds are printed too (load-independent): the ansible-playbook process tree,
the ssh connections it keeps open, the hosts' side (every sshd and what it ran, the doctor included) and the
direct runs; the load average says how busy the machine was. Settings: deploy/ansible/ansible.cfg.

Needs root (bridges, sshd), ansible-core and openssh-server (the test extra and .ci/services.sh)."""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fleet.hosts import Fleet, fleet, wheelhouse  # noqa: E402
from tests.fleet.test_ansible_fleet import ONLY, playbook  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def _procs() -> dict[int, tuple[int, float, bytes]]:
    """pid -> (ppid, CPU seconds of the process and its reaped children, cmdline)."""
    out = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text().rsplit(")", 1)[1].split()
            cmd = (d / "cmdline").read_bytes()
        except OSError:
            continue
        out[int(d.name)] = (int(stat[1]), sum(int(x) for x in stat[11:15]) / TICK, cmd)
    return out


def side_cpu(fl: Fleet, control_dir: str) -> tuple[float, float]:
    """CPU seconds so far of the hosts' side (the sshd daemons and every process under them) and of the ssh
    connection masters Ansible keeps open (orphans, found by their control path)."""
    procs = _procs()
    roots = {p.pid for p in fl.procs}
    hosts = mux = 0.0

    def under(pid: int) -> bool:
        while pid in procs and pid > 1:
            if pid in roots:
                return True
            pid = procs[pid][0]
        return False

    for pid, (_, cpu, cmd) in procs.items():
        if under(pid):
            hosts += cpu
        elif control_dir.encode() in cmd:
            mux += cpu
    return hosts, mux


def measured(fn: Callable[[], Any], fl: Fleet, control_dir: str) -> dict[str, float]:
    r0, (h0, m0), t0 = resource.getrusage(resource.RUSAGE_CHILDREN), side_cpu(fl, control_dir), time.perf_counter()
    fn()
    wall = time.perf_counter() - t0
    r1, (h1, m1) = resource.getrusage(resource.RUSAGE_CHILDREN), side_cpu(fl, control_dir)
    return {"wall": wall, "cpu_controller": r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime,
            "cpu_hosts": h1 - h0, "cpu_ssh_mux": m1 - m0, "load1": os.getloadavg()[0]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=10)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    n = args.hosts
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} cores", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmpd:
        tmp = Path(tmpd)
        os.chmod(tmp, 0o755)
        wh = wheelhouse(tmp / "wheelhouse")
        (tmp / "hosts").mkdir()
        with fleet(tmp / "hosts", f"ag{os.getpid() % 10000}b", n) as fl:
            control_dir = str(fl.dir / "cp")

            def play() -> None:
                out = playbook(fl, tmp / "reports", wh)
                assert "fleet gate FAILED" in out.stdout, out.stdout[-3000:] + out.stderr[-3000:]

            def direct() -> None:
                def one(h: Any) -> int:  # the same command the role runs, without Ansible
                    doctor = h.home / "venv" / "bin" / "autoglm-doctor"
                    argv = [str(doctor), "check", "--format", "json", "--config", str(h.home / "profile.toml"),
                            "--fail-on", "high", "--timeout", "30", *[f"--only={c}" for c in ONLY]]
                    return subprocess.run(argv, capture_output=True, timeout=600).returncode

                with ThreadPoolExecutor(max_workers=n) as pool:
                    codes = list(pool.map(one, fl.hosts))
                assert set(codes) <= {0, 1}, codes

            cold = measured(play, fl, control_dir)  # installs: venvs from the shipped wheelhouse, profiles
            print(f"cold (first run, installs on {n} hosts): playbook {cold['wall']:.1f} s wall, "
                  f"{cold['cpu_controller']:.1f} s CPU ansible tree (not the goal's measure)", flush=True)
            plays, directs = [], []
            for _ in range(args.runs):
                plays.append(measured(play, fl, control_dir))
                directs.append(measured(direct, fl, control_dir))
    med = {k: statistics.median(r[k] for r in plays) for k in plays[0]}
    dmed = {k: statistics.median(r[k] for r in directs) for k in directs[0]}
    per_host = (med["wall"] - dmed["wall"]) / n
    cpu_play = med["cpu_controller"] + med["cpu_ssh_mux"] + med["cpu_hosts"]
    cpu_direct = dmed["cpu_controller"] + dmed["cpu_hosts"]
    print(json.dumps({"hosts": n, "runs": args.runs, "cores": os.cpu_count(),
                      "cold": {k: round(v, 2) for k, v in cold.items()},
                      "playbook": [{k: round(v, 2) for k, v in r.items()} for r in plays],
                      "direct": [{k: round(v, 2) for k, v in r.items()} for r in directs]}))
    print(f"hosts {n}, runs {args.runs} (steady state: hosts provisioned), load average now "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"playbook median {med['wall']:.2f} s wall; the same checks run directly {dmed['wall']:.2f} s")
    print(f"CPU per run: ansible-playbook tree {med['cpu_controller']:.2f} s + ssh masters {med['cpu_ssh_mux']:.2f} s "
          f"+ hosts' side (sshd, runner, doctor) {med['cpu_hosts']:.2f} s = {cpu_play:.2f} s; direct runs {cpu_direct:.2f} s "
          f"-> {(cpu_play - cpu_direct) / n:.2f} CPU s per host of overhead")
    print(f"cold first run (install): {cold['wall']:.1f} s wall, {cold['wall'] / n:.1f} s per host")
    verdict = "met" if per_host <= 1.0 else "NOT met"
    print(f"overhead {per_host:.2f} s per host (steady state; goal <= 1 s per host: {verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
