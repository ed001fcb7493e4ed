"""The runner's contract: crashes and hangs become error findings, requirements gate, order is stable."""

import threading

from autoglm_doctor.check import Check, Context
from autoglm_doctor.config import Profile
from autoglm_doctor.model import CheckMeta, Scope, Severity, Status
from autoglm_doctor.runner import run_checks
from autoglm_doctor.targets.base import AdapterUnavailable, NotCaptured, TargetDefaults, TargetError


def meta(cid, requires=()):
    return CheckMeta(id=cid, title=cid, severity=Severity.HIGH, scope=(Scope.HOST,), remediation="r", docs="d",
                     requires=tuple(requires))


def make(cid, body, requires=()):
    return type(cid.replace(".", "_"), (Check,), {"meta": meta(cid, requires), "run": lambda self, ctx: body(self, ctx)})


def run(*classes, timeout=5.0, jobs=4):
    return run_checks(list(classes), Context(Host(), Profile({})), timeout=timeout, jobs=jobs)


def test_pass_and_fail_come_through_with_duration():
    ok = make("t.a.ok", lambda s, c: [s.passed("fine", resource="x")])
    [f] = run(ok)
    assert (f.status, f.resource, f.message) == (Status.PASS, "x", "fine")
    assert f.duration_ms >= 0


def test_crash_becomes_error_finding_with_message():
    def boom(s, c):
        raise ZeroDivisionError("division by zero")
    [f] = run(make("t.a.crash", boom))
    assert f.status is Status.ERROR
    assert f.message == "check crashed: ZeroDivisionError: division by zero"


def test_crash_in_generator_after_some_findings_is_still_an_error():
    def gen(s, c):
        yield s.passed("first")
        raise RuntimeError("later")
    first, err = run(make("t.a.gen", gen))
    assert first.status is Status.PASS and first.message == "first"  # kept
    assert err.status is Status.ERROR and "RuntimeError: later" in err.message


def test_target_errors_map_to_error_and_skip():
    def unreadable(s, c):
        raise TargetError("/x: Permission denied")
    def missing(s, c):
        raise NotCaptured("/x: not captured in snap")
    def down(s, c):
        raise AdapterUnavailable("daemon down", hint="start it")
    fs = {f.check_id: f for f in run(make("t.a.one", unreadable), make("t.a.two", missing), make("t.a.three", down))}
    assert fs["t.a.one"].status is Status.ERROR and "Permission denied" in fs["t.a.one"].message
    assert fs["t.a.two"].status is Status.SKIP and fs["t.a.two"].message.startswith("not captured:")
    assert fs["t.a.three"].status is Status.SKIP and fs["t.a.three"].remediation == "start it"


def test_no_findings_is_an_error():
    [f] = run(make("t.a.silent", lambda s, c: []))
    assert f.status is Status.ERROR and "no findings" in f.message


class FakeClock:
    """The runner's clock, moved by the checks themselves: no test here depends on sleep timing."""

    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t

    def advance(self, seconds):
        self.t += seconds


class Host(TargetDefaults):
    name, kind, role, can_run, writable = "test", "local", "host", True, False

    def __init__(self):
        self.reads = []

    def read_text(self, path):
        self.reads.append(path)
        return "content"

    def now(self):
        return 0.0


def run_clocked(*classes, clock, target=None, **kw):
    return run_checks(list(classes), Context(target or Host(), Profile({})), clock=clock, **kw)


def test_a_check_past_its_budget_is_stopped_at_its_next_read():
    clock, host = FakeClock(), Host()
    def slow(s, c):
        c.target.read_text("/first")
        clock.advance(31)
        c.target.read_text("/second")  # past the 30 s budget: never made
        return [s.passed("never")]
    [f] = run_clocked(make("t.a.slow", slow), clock=clock, target=host, timeout=30)
    assert (f.status, f.message) == (Status.ERROR, "check timed out after 30s and was stopped")
    assert host.reads == ["/first"]


def test_a_spent_budget_is_not_an_unreadable_file_to_a_tolerant_check():
    """A check that shrugs off an unreadable optional file must not mistake its spent budget for one
    and finish with a quietly degraded verdict."""
    clock, host = FakeClock(), Host()
    def tolerant(s, c):
        c.target.read_text("/first")
        clock.advance(31)
        try:
            vendor = c.target.read_text("/proc/cpuinfo")
        except TargetError:
            vendor = "unknown"
        return [s.passed(f"vendor {vendor}")]
    [f] = run_clocked(make("t.a.tolerant", tolerant), clock=clock, target=host, timeout=30)
    assert (f.status, f.message) == (Status.ERROR, "check timed out after 30s and was stopped")


def test_a_hung_check_is_reported_and_the_run_finishes():
    clock, hung, release = FakeClock(), threading.Event(), threading.Event()
    def hang(s, c):
        hung.set()
        release.wait(60)
        return [s.passed("late")]
    def quick(s, c):
        hung.wait(60)
        clock.advance(100)  # the hung check's budget has passed
        return [s.passed("ok")]
    fs = {f.check_id: f for f in run_clocked(make("t.a.hang", hang), make("t.a.quick", quick), clock=clock, timeout=30)}
    release.set()
    assert (fs["t.a.hang"].status, fs["t.a.hang"].message) == (Status.ERROR, "check timed out after 30s and was stopped")
    assert fs["t.a.quick"].status is Status.PASS


def test_the_run_deadline_stops_what_runs_and_reports_what_never_started():
    clock, hung, release = FakeClock(), threading.Event(), threading.Event()
    def hang(s, c):
        hung.set()
        release.wait(60)
        return [s.passed("late")]
    def quick(s, c):
        hung.wait(60)
        clock.advance(20)
        return [s.passed("ok")]
    late = make("t.a.late", lambda s, c: [s.passed("never")])
    fs = {f.check_id: f for f in run_clocked(make("t.a.hang", hang), make("t.a.quick", quick), late,
                                               clock=clock, timeout=30, deadline=10, jobs=2)}
    release.set()
    assert fs["t.a.quick"].status is Status.PASS
    assert (fs["t.a.hang"].status, fs["t.a.hang"].message) == (Status.ERROR, "check stopped: the run's deadline of 10s passed")
    assert (fs["t.a.late"].status, fs["t.a.late"].message) == (Status.ERROR, "not run: the run's deadline of 10s passed")


def test_a_fact_cut_short_by_one_check_s_deadline_is_computed_again_for_the_next():
    clock, host = FakeClock(), Host()
    calls = []
    def fact(ctx):
        calls.append(1)
        return ctx.target.read_text("/fact")
    def first(s, c):
        clock.advance(31)
        c.fact(fact)
        return [s.passed("never")]
    def second(s, c):
        return [s.passed(c.fact(fact))]
    fs = {f.check_id: f for f in run_clocked(make("t.a.first", first), make("t.a.second", second, requires=()),
                                               clock=clock, target=host, timeout=30, jobs=1)}
    assert fs["t.a.first"].status is Status.ERROR
    assert (fs["t.a.second"].status, fs["t.a.second"].message) == (Status.PASS, "content")
    assert len(calls) == 2 and host.reads == ["/fact"]


def test_real_time_timeout_is_an_error_and_the_run_finishes():
    release = threading.Event()
    def hang(s, c):
        release.wait(30)
        return [s.passed("late")]
    fs = run(make("t.a.hang", hang), make("t.a.quick", lambda s, c: [s.passed("ok")]), timeout=0.3)
    release.set()
    by_id = {f.check_id: f for f in fs}
    assert by_id["t.a.hang"].status is Status.ERROR
    assert by_id["t.a.hang"].message == "check timed out after 0.3s and was stopped"
    assert by_id["t.a.quick"].status is Status.PASS


def test_requirement_cycle_is_an_error_not_a_hang():
    a = make("t.a.one", lambda s, c: [s.passed("x")], requires=["t.a.two"])
    b = make("t.a.two", lambda s, c: [s.passed("x")], requires=["t.a.one"])
    c = make("t.a.free", lambda s, c: [s.passed("x")])
    fs = {f.check_id: f for f in run(a, b, c)}
    assert fs["t.a.one"].status is Status.ERROR and fs["t.a.one"].message.startswith("requirement cycle: ")
    assert fs["t.a.free"].status is Status.PASS


def test_requirement_failure_skips_dependents_with_reason():
    base = make("t.a.base", lambda s, c: [s.fail("broken")])
    dep = make("t.a.dep", lambda s, c: [s.passed("never")], requires=["t.a.base"])
    fs = {f.check_id: f for f in run(base, dep)}
    assert fs["t.a.dep"].status is Status.SKIP
    assert fs["t.a.dep"].message == "requirement not met: t.a.base (fail)"


def test_requirement_warn_lets_dependents_run_after_it():
    """The dependent starts only once its requirement has finished: the requirement waits for a sign that
    the dependent started (a runner that launched both at once gives it) and records whether it came; a
    correct runner never gives it, so the result does not depend on how fast anything runs."""
    order, dep_started = [], threading.Event()
    def base_body(s, c):
        order.append("base:overlapped" if dep_started.wait(timeout=0.5) else "base")
        return [s.warn("meh")]
    def dep_body(s, c):
        dep_started.set()
        order.append("dep")
        return [s.passed("ran")]
    fs = {f.check_id: f for f in run(make("t.a.base", base_body), make("t.a.dep", dep_body, requires=["t.a.base"]))}
    assert fs["t.a.dep"].status is Status.PASS
    assert order == ["base", "dep"]


def test_checks_run_concurrently_up_to_jobs():
    active, peak, lock = [0], [0], threading.Lock()
    together = threading.Barrier(3, timeout=30)  # three at once must be possible; a fourth never joins
    def body(s, c):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        together.wait()
        with lock:
            active[0] -= 1
        return [s.passed("ok")]
    classes = [make(f"t.a.c{i}", body) for i in range(6)]
    run(*classes, jobs=3)
    assert peak[0] == 3


def test_output_sorted_by_check_id():
    fs = run(make("t.b.z", lambda s, c: [s.passed("z")]), make("t.b.a", lambda s, c: [s.passed("a")]))
    assert [f.check_id for f in fs] == ["t.b.a", "t.b.z"]


def test_progress_line_only_on_a_terminal_and_after_a_second(monkeypatch):
    import io

    from autoglm_doctor import commands

    class Tty(io.StringIO):
        def isatty(self):
            return True

    err = Tty()
    monkeypatch.setattr(commands.sys, "stderr", err)
    progress = commands._Progress()
    progress(1, 10)
    assert err.getvalue() == ""  # under a second: nothing
    progress.start -= 2
    progress(3, 10)
    progress.finish()
    assert err.getvalue() == "\rchecking… 3/10\r\x1b[K"
    monkeypatch.setattr(commands.sys, "stderr", io.StringIO())
    quiet = commands._Progress()
    quiet.start -= 5
    quiet(1, 2)
    assert commands.sys.stderr.getvalue() == ""  # not a terminal: never
