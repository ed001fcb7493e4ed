"""``report diff``: what changed between runs of one host — "what broke since yesterday".

Findings are matched by (target, check id, resource). Between the last two reports a finding is
*new* (failing now, not failing or absent before), *fixed* (failing before, passing now), *gone*
(failing before, no longer reported) or *changed* (another status change). Given more than two
reports, in order, a finding whose failing-or-not state changed at least twice is *flapping*.
"""

from __future__ import annotations

from dataclasses import dataclass

from autoglm_doctor.fleet.load import FAILING, HostFinding, HostReport

Key = tuple[str, str, str]


@dataclass(frozen=True)
class Change:
    key: Key
    before: HostFinding | None
    after: HostFinding | None

    @property
    def label(self) -> str:
        target, check_id, resource = self.key
        return f"{target + ': ' if target else ''}{check_id}{' [' + resource + ']' if resource else ''}"


@dataclass(frozen=True)
class HostDiff:
    host: str
    old: HostReport
    new: HostReport
    new_failures: tuple[Change, ...]
    fixed: tuple[Change, ...]
    gone: tuple[Change, ...]
    changed: tuple[Change, ...]
    flapping: tuple[tuple[Key, tuple[str, ...]], ...]
    notes: tuple[str, ...] = ()

    @property
    def worse(self) -> bool:
        return bool(self.new_failures)


def _index(report: HostReport) -> dict[Key, HostFinding]:
    out: dict[Key, HostFinding] = {}
    for f in report.findings:
        prior = out.get(f.key)
        if prior is None or _failing(f) and not _failing(prior):
            out[f.key] = f
    return out


def _failing(f: HostFinding | None) -> bool:
    return f is not None and not f.ignored and f.status in FAILING


def diff(reports: list[HostReport]) -> HostDiff:
    if len(reports) < 2:
        raise ValueError("report diff needs at least two reports (oldest first)")
    notes = []
    hosts = {r.host for r in reports}
    if len(hosts) > 1:
        notes.append(f"the reports come from different hosts ({', '.join(sorted(hosts))}): comparing them anyway")
    old, new = reports[-2], reports[-1]
    before, after = _index(old), _index(new)
    new_failures, fixed, gone, changed = [], [], [], []
    for key in sorted(set(before) | set(after)):
        b, a = before.get(key), after.get(key)
        if _failing(a) and not _failing(b):
            new_failures.append(Change(key, b, a))
        elif _failing(b) and a is None:
            gone.append(Change(key, b, a))
        elif _failing(b) and not _failing(a):
            fixed.append(Change(key, b, a))
        elif a is not None and b is not None and (a.status, a.severity) != (b.status, b.severity):
            changed.append(Change(key, b, a))
    flapping = []
    if len(reports) > 2:
        series = [_index(r) for r in reports]
        for key in sorted(set().union(*series)):
            states = [_failing(s.get(key)) for s in series]
            flips = sum(1 for x, y in zip(states, states[1:]) if x != y)
            if flips >= 2:
                flapping.append((key, tuple((f.status if (f := s.get(key)) else "absent") for s in series)))
    return HostDiff(new.host, old, new, tuple(new_failures), tuple(fixed), tuple(gone), tuple(changed),
                    tuple(flapping), tuple(notes))
