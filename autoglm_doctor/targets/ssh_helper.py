"""The far side of an ssh target: a stdlib-only helper that ``ssh`` starts once per run (``python3 -c``) and
that answers requests on stdin/stdout until stdin closes.

Framing: every message is a 4-byte big-endian length and that many bytes of UTF-8 JSON. A request is
``{"id": N, "op": NAME, ...}``; the answer ``{"id": N, "ok": VALUE}`` or ``{"id": N, "err": KIND, "msg": TEXT}``
with KIND one of absent, toolarge, oserror, badrequest. Bytes travel as base64. Commands, batches and
writes run in threads, so they do not hold up file reads; answers may come back in any order.

This file must stay importable by any python3 >= 3.6 with nothing but the standard library: it is sent
as source, never installed. Keep it small; it has no access to the rest of the package.
"""

import base64
import errno
import json
import os
import stat as stat_mod
import struct
import subprocess
import sys
import threading
import time

ABSENT = (errno.ENOENT, errno.ENOTDIR)
NO_XATTR = (errno.ENODATA, getattr(errno, "ENOATTR", errno.ENODATA), errno.ENOTSUP)
MAX_MESSAGE = 256 * 1024 * 1024


class Fail(Exception):
    def __init__(self, kind, msg):
        Exception.__init__(self, msg)
        self.kind = kind


def _oserror(path, exc):
    if exc.errno in ABSENT:
        return Fail("absent", path)
    return Fail("oserror", "%s: %s" % (path, exc.strerror or exc))


def op_read(req):
    path, limit = req["path"], req.get("limit")
    try:
        with open(path, "rb", buffering=0) as fh:
            chunks, total = [], 0
            while True:  # procfs and sysfs refuse huge single reads (ENOMEM): read in pieces
                chunk = fh.read(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
                if limit is not None and total > limit:
                    break
            data = b"".join(chunks)
    except IsADirectoryError:
        raise Fail("oserror", "%s: is a directory" % path) from None
    except OSError as exc:
        raise _oserror(path, exc) from None
    if limit is not None and len(data) > limit:
        raise Fail("toolarge", "%s: larger than the %d-byte cap" % (path, limit))
    return base64.b64encode(data).decode()


def op_read_many(req):
    out = []
    for path in req["paths"]:
        try:
            out.append({"ok": op_read({"path": path, "limit": req.get("limit")})})
        except Fail as exc:
            out.append({"err": exc.kind, "msg": str(exc)})
    return out


def op_listdir(req):
    try:
        return sorted(os.listdir(req["path"]))
    except OSError as exc:
        raise _oserror(req["path"], exc) from None


def op_readlink(req):
    try:
        return os.readlink(req["path"])
    except OSError as exc:
        if exc.errno == errno.EINVAL:
            return None
        raise _oserror(req["path"], exc) from None


def op_stat(req):
    try:
        st = os.stat(req["path"], follow_symlinks=req.get("follow", True))
    except OSError as exc:
        raise _oserror(req["path"], exc) from None
    return [st.st_mode, st.st_uid, st.st_gid, st.st_size,
            os.major(st.st_rdev) if st.st_rdev else 0, os.minor(st.st_rdev) if st.st_rdev else 0]


def op_getxattr(req):
    try:
        return base64.b64encode(os.getxattr(req["path"], req["name"])).decode()
    except OSError as exc:
        if exc.errno in NO_XATTR:
            return None
        raise _oserror(req["path"], exc) from None


def op_disk_usage(req):
    try:
        sv = os.statvfs(req["path"])
    except OSError as exc:
        raise _oserror(req["path"], exc) from None
    return [sv.f_blocks * sv.f_frsize, sv.f_bavail * sv.f_frsize]


def op_run(req):
    argv, timeout = req["argv"], float(req.get("cmd_timeout", 10.0))
    env = dict(os.environ, LC_ALL="C", LANG="C")
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=env, start_new_session=True)
    except FileNotFoundError:
        return {"rc": 127, "out": "", "err": "%s: command not found" % argv[0], "not_found": True}
    except PermissionError as exc:
        return {"rc": 126, "out": "", "err": "%s: %s" % (argv[0], exc.strerror)}
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, 9)  # the whole process group: a shell's children too
        except OSError:
            pass
        out, _err = proc.communicate()
        return {"rc": -9, "out": out.decode("utf-8", "replace"), "err": "timed out after %gs" % timeout,
                "timed_out": True}
    return {"rc": proc.returncode, "out": out.decode("utf-8", "replace"), "err": err.decode("utf-8", "replace")}


def op_write(req):
    """Atomic: a temp file in the same directory, fsync, rename; keeps the old file's mode, owner and
    xattrs unless told otherwise."""
    path = req["path"]
    data = base64.b64decode(req["data"])
    directory = os.path.dirname(path) or "/"
    try:
        old = os.stat(path)
    except OSError as exc:
        if exc.errno not in ABSENT:
            raise _oserror(path, exc) from None
        old = None
    tmp = os.path.join(directory, ".%s.autoglm-doctor-%d" % (os.path.basename(path), os.getpid()))
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        mode = req.get("mode")
        os.chmod(tmp, mode if mode is not None else (stat_mod.S_IMODE(old.st_mode) if old else 0o644))
        uid, gid = req.get("uid"), req.get("gid")
        if uid is None:
            uid = old.st_uid if old else -1
        if gid is None:
            gid = old.st_gid if old else -1
        os.chown(tmp, uid, gid)
        if old is not None and hasattr(os, "listxattr"):
            for name in os.listxattr(path):
                try:
                    os.setxattr(tmp, name, os.getxattr(path, name))
                except OSError:
                    pass
        os.rename(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise Fail("oserror", "%s: %s" % (path, exc.strerror or exc)) from None
    return None


def _simple(fn):
    def op(req):
        try:
            fn(req)
        except OSError as exc:
            raise Fail("oserror", "%s: %s" % (req.get("path"), exc.strerror or exc)) from None
        return None
    return op


def _remove(req):
    try:
        if os.path.isdir(req["path"]) and not os.path.islink(req["path"]):
            os.rmdir(req["path"])
        else:
            os.unlink(req["path"])
    except OSError as exc:
        if exc.errno not in ABSENT:
            raise


def _removexattr(req):
    try:
        os.removexattr(req["path"], req["name"])
    except OSError as exc:
        if exc.errno not in NO_XATTR:
            raise


OPS = {
    "hello": lambda req: {"pid": os.getpid(), "python": sys.version.split()[0], "uid": os.getuid(),
                          "now": time.time()},
    "now": lambda req: time.time(),
    "sleep": lambda req: time.sleep(min(float(req.get("seconds", 0)), 60)),
    "read": op_read,
    "read_many": op_read_many,
    "listdir": op_listdir,
    "readlink": op_readlink,
    "stat": op_stat,
    "getxattr": op_getxattr,
    "disk_usage": op_disk_usage,
    "run": op_run,
    "write": op_write,
    "remove": _simple(_remove),
    "mkdir": _simple(lambda r: os.makedirs(r["path"], mode=r.get("mode", 0o755), exist_ok=True)),
    "chmod": _simple(lambda r: os.chmod(r["path"], r["mode"])),
    "chown": _simple(lambda r: os.chown(r["path"], r["uid"], r["gid"])),
    "setxattr": _simple(lambda r: os.setxattr(r["path"], r["name"], base64.b64decode(r["value"]))),
    "removexattr": _simple(_removexattr),
}


SLOW = ("run", "read_many", "write", "sleep")


def serve(inp, out):
    lock = threading.Lock()

    def answer(msg):
        data = json.dumps(msg).encode()
        with lock:
            out.write(struct.pack(">I", len(data)) + data)
            out.flush()

    def handle(req):
        rid = req.get("id")
        try:
            fn = OPS.get(req.get("op"))
            if fn is None:
                raise Fail("badrequest", "unknown op %r" % req.get("op"))
            answer({"id": rid, "ok": fn(req)})
        except Fail as exc:
            answer({"id": rid, "err": exc.kind, "msg": str(exc)})
        except Exception as exc:  # noqa: BLE001 - a bad request must not end the helper
            answer({"id": rid, "err": "badrequest", "msg": "%s: %s" % (type(exc).__name__, exc)})

    while True:
        head = inp.read(4)
        if len(head) < 4:
            return
        (size,) = struct.unpack(">I", head)
        if size > MAX_MESSAGE:
            return
        body = inp.read(size)
        if len(body) < size:
            return
        try:
            req = json.loads(body.decode())
        except ValueError:
            answer({"id": None, "err": "badrequest", "msg": "not JSON"})
            continue
        if req.get("op") in SLOW:  # may take long: a thread, so reads are not held up behind it
            threading.Thread(target=handle, args=(req,), daemon=True).start()
        else:
            handle(req)


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
