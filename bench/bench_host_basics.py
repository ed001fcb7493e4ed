#!/usr/bin/env python3
"""Start-up and host-basics speed, whole processes, against libvirt's virt-host-validate on this machine.

    python bench/bench_host_basics.py [--runs 21]

Installs the project the way a user would (a regular, non-editable install) into a throwaway venv under
/tmp that borrows the dependencies of the running interpreter, lets Python write its bytecode cache (as
an installed package has), warms up, then times median wall times of:
  - virt-host-validate qemu                          (the reference)
  - autoglm-doctor check, host-basics family, JSON   (goal: within 5x of the reference)
  - the same with the console report
  - autoglm-doctor --version                         (goal: under 80 ms)
and prints the numbers and ratios. It also reports which heavy modules `--version` imports (goal: none).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOST_BASICS = ["--only", "host.kernel.*", "--only", "host.cpu.*", "--only", "host.kvm.*", "--only", "host.cgroup.*",
               "--only", "host.resources.*"]
HEAVY = ("docker", "libvirt", "rich", "structlog", "pyudev", "psutil")
# what any Python CLI of this shape imports before doing anything: the floor under our number
FLOOR_IMPORTS = "import argparse, json, re, enum, typing, dataclasses, threading, subprocess, datetime, gzip"


def install(venv: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    import setuptools  # the running interpreter's site-packages hold the dependencies and build tools

    (site / "zz_deps.pth").write_text(str(Path(setuptools.__file__).parent.parent) + "\n")
    src = Path(tempfile.mkdtemp(prefix="autoglm-bench-src-"))
    shutil.copytree(ROOT, src / "src", ignore=shutil.ignore_patterns(".venv", ".git", "build", "*.egg-info",
                                                                      "__pycache__", "scenarios"))
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--quiet",
                    "--no-deps", "--no-build-isolation", str(src / "src")], check=True)
    shutil.rmtree(src, ignore_errors=True)
    return venv / "bin" / "autoglm-doctor"


def median_wall(argv: list[str], env: dict[str, str], runs: int) -> tuple[float, int]:
    times = []
    rc = 0
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        times.append(time.perf_counter() - start)
        rc = proc.returncode
    return statistics.median(times), rc


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    vhv = shutil.which("virt-host-validate")
    if not vhv:
        print("virt-host-validate not found (apt-get install libvirt-clients)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="autoglm-bench-"))
    try:
        exe = str(install(work / "venv"))
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")}
        env["XDG_CACHE_HOME"] = str(work / "cache")
        for _ in range(3):  # bytecode cache and registry index, as on a machine where it ran before
            subprocess.run([exe, "check", *HOST_BASICS, "--format", "json"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, env=env)
            subprocess.run([vhv, "qemu"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        ref, ref_rc = median_wall([vhv, "qemu"], env, args.runs)
        ours_json, rc_json = median_wall([exe, "check", *HOST_BASICS, "--format", "json"], env, args.runs)
        ours_console, _ = median_wall([exe, "check", *HOST_BASICS, "--format", "console"], env, args.runs)
        version, _ = median_wall([exe, "--version"], env, args.runs)
        py = str(work / "venv" / "bin" / "python")
        floor, _ = median_wall([py, "-c", "pass"], env, args.runs)
        stdlib, _ = median_wall([py, "-c", FLOOR_IMPORTS], env, args.runs)
        probe = subprocess.run([str(work / "venv" / "bin" / "python"), "-c",
                                "import sys\nfrom autoglm_doctor.cli import main\ntry:\n    main(['--version'])\n"
                                "except SystemExit:\n    pass\nprint('HEAVY:' + ','.join(sorted({m.split('.')[0] for m in sys.modules} & "
                                f"set({HEAVY!r}))))"], capture_output=True, text=True, env=env)
        heavy = probe.stdout.strip().splitlines()[-1].removeprefix("HEAVY:")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"runs per command: {args.runs} (median wall time, whole processes, {os.cpu_count()} CPUs)")
    print(f"virt-host-validate qemu:                {ref * 1000:8.1f} ms  (exit {ref_rc})")
    print(f"autoglm-doctor check host basics, json: {ours_json * 1000:8.1f} ms  (exit {rc_json})  "
          f"ratio {ours_json / ref:.2f}x  goal <= 5x")
    print(f"autoglm-doctor check host basics, rich: {ours_console * 1000:8.1f} ms  ratio {ours_console / ref:.2f}x")
    print(f"autoglm-doctor --version:               {version * 1000:8.1f} ms  goal < 80 ms")
    print(f"floor: python -c pass:                  {floor * 1000:8.1f} ms  ({floor / ref:.2f}x the reference)")
    print(f"floor: + the stdlib modules it needs:   {stdlib * 1000:8.1f} ms  ({stdlib / ref:.2f}x the reference)")
    print(f"doctor's own work above that floor:     {(ours_json - stdlib) * 1000:8.1f} ms")
    print(f"heavy modules imported by --version:    {heavy or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
