"""Runs the fuzz variants in-process (a process per variant would cost more than the variants) and
counts what went wrong:

- internal errors (a traceback or "internal error" on stderr, an exit code other than 0/1/2);
- "check crashed" findings (a check that raised something the target contract does not name);
- hangs (a run still going after its deadline; the run is abandoned and counted);
- host files touched (a sentinel tree, the targets of every hostile link, checksummed before and after
  with content, mode, owner and mtime);
- gate passes on a snapshot that could not be evaluated (exit 0 where the input was refused, or a report
  in which no check said pass, warn or fail);
- a refusal that is not one line on stderr, or does not name what was wrong;
- temporary files left behind (the run's TMPDIR must be empty after every variant).

``python -m tests.fuzz.harness [--seed N] [--scale K]`` prints the counts as JSON (docs/reliability.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fuzz.generate import MANIFEST, SEED, Variant, variants

RUN_DEADLINE = 60.0  # seconds for one variant, far above any real run (checks have --timeout 10)


def make_sentinel(root: Path) -> Path:
    """Host files a hostile snapshot points at: they must come out of the run exactly as they went in."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "secret.txt").write_text("sentinel secret: must never be printed or changed\n")
    os.chmod(root / "secret.txt", 0o600)
    side = root / "side"
    side.mkdir(exist_ok=True)
    for name, data in {"manifest.json": MANIFEST, "absent.json": ["/proc/cpuinfo"], "api.json": {},
                       "commands.json": [], "stat.json": {}, "dirs.json": {}, "disk.json": {},
                       "xattr.json": {}, "unreadable.json": {}}.items():
        (side / name).write_text(json.dumps(data))
    os.utime(root / "secret.txt", (1_000_000_000, 1_000_000_000))
    return root


def fingerprint(root: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for current, dirs, files in os.walk(root):
        for name in sorted(dirs + files):
            p = os.path.join(current, name)
            st = os.lstat(p)
            entry: list[Any] = [st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns, st.st_size, st.st_nlink]
            if os.path.islink(p):
                entry.append(os.readlink(p))
            elif os.path.isfile(p):
                entry.append(hashlib.sha256(Path(p).read_bytes()).hexdigest())
            out[os.path.relpath(p, root)] = entry
    return out


@dataclass
class Outcome:
    variant: str
    category: str
    code: int | None
    seconds: float
    problems: list[str] = field(default_factory=list)


def _invoke(argv: list[str], env: dict[str, str]) -> tuple[int | None, str, str, bool]:
    """cli.main(argv) with captured streams, in a thread we can stop waiting for."""
    from autoglm_doctor import cli

    out, err = io.StringIO(), io.StringIO()
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["code"] = cli.main(argv)
        except SystemExit as exc:  # noqa: PERF203
            box["code"] = exc.code if isinstance(exc.code, int) else 2
        except BaseException as exc:  # noqa: BLE001 - counted as an internal error
            box["crash"] = f"{type(exc).__name__}: {exc}"

    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            thread = threading.Thread(target=run, daemon=True)
            thread.start()
            thread.join(RUN_DEADLINE)
            hung = thread.is_alive()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    if "crash" in box:
        err.write(f"\nTraceback: uncaught {box['crash']}\n")
    return box.get("code"), out.getvalue(), err.getvalue(), hung


def judge(v: Variant, code: int | None, stdout: str, stderr: str) -> list[str]:
    problems = []
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    if "Traceback" in stderr or "internal error" in stderr or code not in (0, 1, 2):
        problems.append(f"internal error (exit {code}): {stderr.strip()[-300:]}")
    report = None
    if stdout.strip().startswith("{"):
        try:
            report = json.loads(stdout)
        except ValueError:
            problems.append("stdout is not the JSON report")
    findings = (report or {}).get("findings", []) if isinstance(report, dict) else []
    crashed = [f for f in findings if "check crashed" in f.get("message", "")]
    if crashed:
        problems.append("check crashed: " + "; ".join(f"{f['check_id']}: {f['message'][:160]}" for f in crashed[:3]))
    if "sentinel secret" in stdout + stderr:
        problems.append("a host file's content was printed")
    if code == 2:
        errors = [line for line in lines if line.startswith("autoglm-doctor: error: ")]
        if len(errors) != 1:
            problems.append(f"exit 2 without exactly one error line: {lines[-3:]}")
        elif v.expect == "refused" and v.needle and v.needle not in errors[0]:
            problems.append(f"refusal does not name {v.needle!r}: {errors[0][:200]}")
    if v.expect == "refused" and code != 2:
        problems.append(f"expected a refusal (exit 2), got exit {code}")
    if code == 0 and report is not None and v.category != "logs":
        if not any(f.get("status") in ("pass", "warn", "fail") for f in findings):
            problems.append("gate passed on a report in which nothing was evaluated")
    return problems


def run_variant(v: Variant, work: Path, sentinel: Path) -> Outcome:
    work.mkdir(parents=True, exist_ok=True)
    argv, env = v.build(work, sentinel)
    start = time.monotonic()
    code, stdout, stderr, hung = _invoke(argv, env)
    seconds = time.monotonic() - start
    problems = [f"hang: still running after {RUN_DEADLINE:g}s"] if hung else judge(v, code, stdout, stderr)
    return Outcome(v.id, v.category, code, round(seconds, 3), problems)


def run_all(seed: int = SEED, scale: int = 1, *, only: str = "") -> dict[str, Any]:
    base = Path(tempfile.mkdtemp(prefix="autoglm-doctor-fuzz-hostile-"))
    sentinel = make_sentinel(base / "sentinel")
    run_tmp = base / "tmp"
    run_tmp.mkdir()
    before = fingerprint(sentinel)
    saved_tmp = tempfile.tempdir
    tempfile.tempdir = str(run_tmp)  # what the tool creates must be gone after every variant
    outcomes: list[Outcome] = []
    started = time.monotonic()
    try:
        for i, v in enumerate(variants(seed, scale=scale)):
            if only and only not in v.id:
                continue
            outcome = run_variant(v, base / "work" / str(i), sentinel)
            left = os.listdir(run_tmp)
            if left:
                outcome.problems.append(f"temporary files left: {left[:3]}")
                for name in left:
                    p = run_tmp / name
                    shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
            shutil.rmtree(base / "work" / str(i), ignore_errors=True)
            outcomes.append(outcome)
    finally:
        tempfile.tempdir = saved_tmp
    touched = fingerprint(sentinel) != before
    elapsed = time.monotonic() - started
    shutil.rmtree(base, ignore_errors=True)
    kinds = Counter()
    for o in outcomes:
        for p in o.problems:
            kinds[p.split(":")[0].split(" (")[0]] += 1
    return {
        "seed": seed,
        "variants": len(outcomes),
        "by_category": dict(sorted(Counter(o.category for o in outcomes).items())),
        "exit_codes": {str(k): v for k, v in sorted(Counter(str(o.code) for o in outcomes).items())},
        "seconds": round(elapsed, 1),
        "slowest": max((o.seconds for o in outcomes), default=0.0),
        "host_files_touched": int(touched),
        "problems": dict(kinds),
        "failures": [{"variant": o.variant, "problems": o.problems} for o in outcomes if o.problems],
    }


def main(argv: list[str]) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m tests.fuzz.harness")
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--scale", type=int, default=1)
    p.add_argument("--only", default="", help="run the variants whose id holds this text")
    args = p.parse_args(argv)
    result = run_all(args.seed, args.scale, only=args.only)
    print(json.dumps(result, indent=1))
    return 1 if result["failures"] or result["host_files_touched"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
