"""Hand-made snapshot trees for log correlation: the agent's JSON log file, the model server's container
log (replayed Docker API answer, with dockerd's timestamps, vLLM's plain-text format), a gateway's
journal (replayed ``journalctl -o json``) and the VM's QEMU log.

Traces (agent -> vllm):
  T_OK    reaches vllm through the request id the agent logs with it (an alias), completes.
  T_FAIL  vllm logs CUDA OOM, the agent answers 500.
  T_LOST  the agent calls vllm, which never logs it; the agent times out 30 s later (a gap).
  T_SKEW  vllm's clock is 40 s behind the agent's: its lines come before the call.
"""

from __future__ import annotations

import json
from pathlib import Path

T_OK = "0af7651916cd43dd8448eb211c80319c"
T_FAIL = "4bf92f3577b34da6a3ce929d0e0e4736"
T_LOST = "5c4e1d3a2b1f40e0a9b8c7d6e5f40312"
T_SKEW = "6d5e4f3a2b1c40d0b9a8c7d6e5f40b21"
R_OK, R_FAIL, R_SKEW = "9d2f0c1e7b6a4c3d", "8e1a2b3c4d5e6f70", "7f0e1d2c3b4a5968"


def _agent_lines() -> list[dict]:
    t = "2026-01-01T10:00:0{}.{:03d}Z".format
    return [
        {"timestamp": t(0, 0), "level": "info", "service": "auto-glm", "trace_id": T_OK, "message": "task accepted"},
        {"timestamp": t(0, 10), "level": "info", "service": "auto-glm", "trace_id": T_OK, "request_id": R_OK,
         "message": "calling model server"},
        {"timestamp": t(2, 0), "level": "info", "service": "auto-glm", "trace_id": T_OK, "message": "task completed", "status": 200},
        {"timestamp": t(1, 0), "level": "info", "service": "auto-glm", "trace_id": T_FAIL, "request_id": R_FAIL,
         "message": "calling model server"},
        {"timestamp": t(1, 900), "level": "error", "service": "auto-glm", "trace_id": T_FAIL,
         "message": "model server returned 500", "status": 500},
        {"timestamp": t(3, 0), "level": "info", "service": "auto-glm", "trace_id": T_LOST, "message": "calling model server"},
        {"timestamp": "2026-01-01T10:00:33.000Z", "level": "error", "service": "auto-glm", "trace_id": T_LOST,
         "message": "upstream timeout after 30000 ms"},
        {"timestamp": "2026-01-01T10:01:00.000Z", "level": "info", "service": "auto-glm", "trace_id": T_SKEW,
         "request_id": R_SKEW, "message": "calling model server"},
        {"timestamp": "2026-01-01T10:01:01.000Z", "level": "info", "service": "auto-glm", "trace_id": T_SKEW,
         "message": "task completed"},
        {"timestamp": t(4, 0), "level": "debug", "service": "auto-glm", "message": "GET /healthz 200"},
    ]


def _vllm_docker_log() -> str:
    ts = "2026-01-01T10:00:0{}.{:09d}Z ".format
    return "".join([
        ts(0, 20_000_000) + f"INFO 01-01 10:00:00 [logger.py:39] Received request chatcmpl-{R_OK}: prompt: 'hi'\n",
        ts(1, 500_000_000) + f"INFO 01-01 10:00:01 [logger.py:39] Received request chatcmpl-{R_OK}: finished\n",
        ts(1, 10_000_000) + f"INFO 01-01 10:00:01 [logger.py:39] Received request chatcmpl-{R_FAIL}: prompt: 'x'\n",
        ts(1, 800_000_000) + f"ERROR 01-01 10:00:01 [engine.py:12] request chatcmpl-{R_FAIL}: CUDA out of memory. "
                             "Tried to allocate 20.00 GiB\n",
        "2026-01-01T10:00:20.000000000Z " + f"INFO 01-01 10:00:20 [logger.py:39] Received request chatcmpl-{R_SKEW}: prompt\n",
        ts(5, 0) + "INFO 01-01 10:00:05 [metrics.py:341] Avg prompt throughput: 1.0 tokens/s\n",
        ts(6, 0) + "INFO 01-01 10:00:06 [metrics.py:341] Avg prompt throughput: 0.0 tokens/s\n",
    ])


def _journal() -> str:
    entries = [
        {"__REALTIME_TIMESTAMP": "1767261599990000", "PRIORITY": "6", "_SYSTEMD_UNIT": "autoglm-gateway.service",
         "SYSLOG_IDENTIFIER": "gateway", "MESSAGE": f"level=info msg=\"proxy request\" trace_id={T_OK}"},
        {"__REALTIME_TIMESTAMP": "1767261601950000", "PRIORITY": "3", "_SYSTEMD_UNIT": "autoglm-gateway.service",
         "SYSLOG_IDENTIFIER": "gateway", "MESSAGE": json.dumps({"trace_id": T_FAIL, "msg": "upstream 500"})},
    ]
    return "".join(json.dumps(e) + "\n" for e in entries)


def build(root: Path) -> Path:
    logs = root / "var" / "log" / "autoglm"
    logs.mkdir(parents=True)
    (logs / "auto-glm.log").write_text("".join(json.dumps(x) + "\n" for x in _agent_lines()))
    qemu = root / "var" / "log" / "libvirt" / "qemu"
    qemu.mkdir(parents=True)
    (qemu / "autoglm-vm.log").write_text(
        "2026-01-01 09:59:00.000+0000: starting up libvirt version: 9.0.0, qemu version: 7.2.0\n"
        "2026-01-01 09:59:01.000+0000: qemu-system-x86_64: -device vfio-pci,host=0000:01:00.0: "
        "VFIO_MAP_DMA failed: Cannot allocate memory\n")
    side = root / ".autoglm-doctor"
    side.mkdir()
    (side / "manifest.json").write_text(json.dumps({"format": "autoglm-doctor-snapshot", "version": 1,
                                                    "kind": "handmade"}))
    (side / "api.json").write_text(json.dumps({
        'docker.logs(["vllm", 200000, null, true])': {"result": _vllm_docker_log()},
        'docker.logs(["ghost", 200000, null, true])': {"result": None},
    }))
    (side / "commands.json").write_text(json.dumps([
        {"argv": ["journalctl", "-o", "json", "--no-pager", "-u", "autoglm-gateway.service"], "returncode": 0,
         "stdout": _journal(), "stderr": ""},
    ]))
    return root


SOURCES = ["/var/log/autoglm/", "docker:vllm", "gateway=journald:autoglm-gateway.service", "libvirt:autoglm-vm"]
