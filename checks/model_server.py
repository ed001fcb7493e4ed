"""Model server readiness: the weights the server is started with are complete, its arguments fit the GPUs it
was given and the profile, and the NVIDIA driver supports the CUDA its image was built for (nvidia-smi
answering inside the container is the proof).

These read the model server container through Docker (on a host, or on a guest where Docker runs) and the
weights through the target at the path the container's bind mount maps them to."""

from __future__ import annotations

import json
from typing import Any, Iterable, Iterator

from autoglm_doctor.check import Context, docs_link
from autoglm_doctor.facts.docker import Resolved, docker
from autoglm_doctor.facts.guest_gpu import nvidia_smi
from autoglm_doctor.facts.model_server import container_argv, gpu_request, host_path, image_cuda, parse_server_args
from autoglm_doctor.facts.nvidia import version_tuple
from autoglm_doctor.model import CheckMeta, Finding, Scope, Severity
from autoglm_doctor.per_resource import PerModelContainer

SCOPE = (Scope.CONTAINER,)
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "tiktoken.model", "vocab.json")
MAX_INDEX = 8 * 1024 * 1024


class WeightsComplete(PerModelContainer):
    meta = CheckMeta(
        id="model.weights.complete",
        title="The model weights the server is started with are complete",
        severity=Severity.CRITICAL,
        scope=SCOPE,
        remediation="download the model again (huggingface-cli download REPO --local-dir DIR) into the directory "
                    "the container mounts, and check that the mount's source is the directory with config.json",
        docs=docs_link("model.weights.complete"),
        description="config.json and a tokenizer file present; every shard that model.safetensors.index.json "
                    "(or pytorch_model.bin.index.json) names present and non-empty, or a single model.safetensors. "
                    "Read on the mount the container sees (its --model / --model-path through its bind mounts), "
                    "or profile.model_path.",
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        if ctx.profile.get("model_path"):
            yield self._check_dir(ctx, ctx.profile.get("model_path"), "profile.model_path")
            return
        yield from super().run(ctx)

    def judge(self, ctx: Context, res: Resolved) -> Iterator[Finding]:
        assert res.inspect is not None
        model = parse_server_args(container_argv(res.inspect)).get("model")
        if not model:
            yield self.skip(f"{res.name}: no --model / --model-path in its command line", resource=res.name)
        elif not model.startswith("/"):
            yield self.skip(f"{res.name} loads {model!r} from the hub cache (not a directory): set "
                            "profile.model_path to check the weights", resource=res.name)
        elif (source := host_path(res.inspect, model)) is None:
            yield self.skip(f"{res.name}: {model} is not on a bind mount (inside the image or a named "
                            "volume): set profile.model_path to check it", resource=res.name)
        else:
            yield self._check_dir(ctx, source, f"{res.name}:{model}")

    def _check_dir(self, ctx: Context, path: str, where: str) -> Finding:
        t = ctx.target
        names = t.listdir(path)
        kw: dict[str, Any] = dict(resource=path, expected="config.json, a tokenizer, every weight shard non-empty",
                                  remediation=f"download the model again into {path} (huggingface-cli download "
                                              f"<the model's hub id> --local-dir {path}), the directory mounted as "
                                              f"{where}, and check that it holds config.json")
        if names is None:
            return self.fail(f"{path} ({where}) does not exist", observed="missing", **kw)
        problems = []
        if "config.json" not in names:
            problems.append("no config.json")
        if not any(n in names for n in TOKENIZER_FILES):
            problems.append("no tokenizer file (" + ", ".join(TOKENIZER_FILES) + ")")
        index = next((n for n in ("model.safetensors.index.json", "pytorch_model.bin.index.json") if n in names), None)
        if index:
            raw = t.read_bytes(f"{path}/{index}", limit=MAX_INDEX)
            try:
                weight_map = json.loads(raw or b"")["weight_map"]
                shards = sorted({str(v) for v in weight_map.values()})
            except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
                return self.fail(f"{path}/{index} is not a readable weight index (no weight_map)",
                                 observed="unreadable index", **kw)
            missing = [s for s in shards if s not in names]
            empty = [s for s in shards if s in names and (st := t.stat(f"{path}/{s}")) is not None and st.size == 0]
            if missing:
                problems.append(f"{len(missing)} of {len(shards)} shards missing ({', '.join(missing[:3])}"
                                f"{' …' if len(missing) > 3 else ''})")
            if empty:
                problems.append(f"empty shards: {', '.join(empty[:3])}")
            summary = f"{len(shards)} shards"
        elif "model.safetensors" in names or "pytorch_model.bin" in names:
            single = "model.safetensors" if "model.safetensors" in names else "pytorch_model.bin"
            st = t.stat(f"{path}/{single}")
            if st is not None and st.size == 0:
                problems.append(f"{single} is empty")
            summary = single
        else:
            problems.append("no weights (no *.index.json, no model.safetensors)")
            summary = "no weights"
        if problems:
            return self.fail(f"{path} ({where}): " + "; ".join(problems), observed=problems, **kw)
        return self.passed(f"{path} ({where}) is complete: config.json, tokenizer, {summary}", observed=summary, **kw)


class ServerArgsFit(PerModelContainer):
    meta = CheckMeta(
        id="model.server.args",
        title="The model server's arguments fit its GPUs and the profile",
        severity=Severity.HIGH,
        scope=SCOPE,
        remediation="start the server with --served-model-name set to profile.served_model_name, a tensor-parallel "
                    "size no larger than (and dividing) the GPUs it is given, a memory fraction in (0, 1], and a "
                    "max model length within the model's max_position_embeddings",
        docs=docs_link("model.server.args"),
        description="vLLM --served-model-name, --tensor-parallel-size, --gpu-memory-utilization, --max-model-len; "
                    "SGLang's --served-model-name, --tp-size, --mem-fraction-static, --context-length; against the "
                    "container's GPU request (DeviceRequests / NVIDIA_VISIBLE_DEVICES) and the model's config.json.",
    )

    def judge(self, ctx: Context, res: Resolved) -> Iterator[Finding]:
        assert res.inspect is not None
        args = parse_server_args(container_argv(res.inspect))
        if args.engine == "unknown":
            yield self.skip(f"{res.name}: neither vLLM nor SGLang in its command line", resource=res.name)
            return
        problems = self._problems(ctx, res, args)
        kw = dict(resource=res.name, observed=args.values, expected="arguments that fit")
        if problems:
            yield self.fail(f"{res.name} ({args.engine}): " + "; ".join(problems), **kw)
        else:
            yield self.passed(f"{res.name} ({args.engine}) arguments fit: " +
                              ", ".join(f"{k}={v}" for k, v in sorted(args.values.items())), **kw)

    def _problems(self, ctx: Context, res: Resolved, args: Any) -> list[str]:
        out = []
        want = ctx.profile.get("served_model_name")
        served = args.get("served_model_name")
        if served is not None and served != want:
            out.append(f"--served-model-name is {served!r}, the profile (and the agent) asks for {want!r}")
        elif served is None and args.get("model") != want:
            out.append(f"no --served-model-name: the server lists the model as {args.get('model')!r}, "
                       f"the agent asks for {want!r}")
        gpus = gpu_request(res.inspect or {})
        tp_text = args.get("tp") or "1"
        if not tp_text.isdigit() or int(tp_text) < 1:
            out.append(f"tensor-parallel size {tp_text!r} is not a positive number")
        else:
            tp = int(tp_text)
            if gpus is None:
                out.append("the container was given no GPU (no --gpus / DeviceRequests, no NVIDIA_VISIBLE_DEVICES)")
            elif gpus > 0 and (tp > gpus or gpus % tp):
                out.append(f"tensor-parallel size {tp} does not fit the {gpus} GPU(s) the container is given")
        frac = args.get("mem_fraction")
        if frac is not None:
            try:
                ok = 0 < float(frac) <= 1
            except ValueError:
                ok = False
            if not ok:
                out.append(f"GPU memory fraction {frac!r} is not in (0, 1]")
        max_len = args.get("max_len")
        limit = self._max_positions(ctx, res, args)
        if max_len is not None and limit is not None and max_len.isdigit() and int(max_len) > limit:
            out.append(f"max model length {max_len} exceeds the model's max_position_embeddings {limit}")
        return out

    def _max_positions(self, ctx: Context, res: Resolved, args: Any) -> int | None:
        model = args.get("model") or ""
        path = ctx.profile.get("model_path") or (host_path(res.inspect or {}, model) if model.startswith("/") else None)
        if not path:
            return None
        raw = ctx.target.read_bytes(f"{path}/config.json", limit=MAX_INDEX)
        try:
            value = json.loads(raw or b"null").get("max_position_embeddings")
        except (ValueError, AttributeError, RecursionError):
            return None
        return value if isinstance(value, int) and value > 0 else None


class CudaCompat(PerModelContainer):
    meta = CheckMeta(
        id="model.server.cuda",
        title="The NVIDIA driver supports the model server image's CUDA, and nvidia-smi works inside it",
        severity=Severity.CRITICAL,
        scope=SCOPE,
        remediation="upgrade the NVIDIA driver to one whose CUDA version (nvidia-smi's header) covers the image's "
                    "CUDA, or use an image built for an older CUDA; start the container with --gpus all (or the "
                    "nvidia runtime / CDI device)",
        docs=docs_link("model.server.cuda"),
        description="The image's NVIDIA_REQUIRE_CUDA / CUDA_VERSION against the driver's CUDA version from "
                    "nvidia-smi; then `nvidia-smi -L` run inside the running container (docker exec).",
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        state = ctx.fact(nvidia_smi)
        if state.smi is None:
            yield self.skip(f"the driver's CUDA version is unknown here: {state.error} (see guest.nvidia.smi)",
                            resource="cuda")
            return
        yield from super().run(ctx)

    def judge(self, ctx: Context, res: Resolved) -> Iterator[Finding]:
        assert res.inspect is not None
        smi = ctx.fact(nvidia_smi).smi
        driver_cuda = version_tuple(smi.cuda_version) if smi and smi.cuda_version else None
        need = image_cuda(res.inspect)
        kw: dict[str, Any] = dict(resource=res.name, expected=f"driver CUDA >= {'.'.join(map(str, need)) if need else 'image CUDA'}")
        if need and driver_cuda and tuple(driver_cuda[:2]) < need:
            yield self.fail(f"{res.name}'s image needs CUDA {need[0]}.{need[1]}, the driver "
                            f"{smi.driver_version if smi else '?'} supports CUDA {smi.cuda_version if smi else '?'}: "
                            "CUDA initialisation fails ('CUDA driver version is insufficient')",
                            observed=f"driver CUDA {smi.cuda_version if smi else '?'}", **kw)
            return
        if not (res.inspect.get("State") or {}).get("Running"):
            yield self.skip(f"{res.name} is not running: nvidia-smi cannot be tried inside it", resource=res.name)
            return
        answer = docker(ctx).exec_run(res.name, ["nvidia-smi", "-L"]) or {}
        if answer.get("exit_code") != 0:
            said = answer.get("error") or " ".join(str(answer.get("output", "")).split())[:200]
            yield self.fail(f"nvidia-smi fails inside {res.name}: {said or 'no output'} — the container has no "
                            "GPU (started without --gpus / the nvidia runtime)", observed=said, **kw)
            return
        gpus = [ln for ln in str(answer.get("output", "")).splitlines() if ln.startswith("GPU ")]
        yield self.passed(f"{res.name}: image CUDA {'.'.join(map(str, need)) if need else '?'} within the driver's "
                          f"{smi.cuda_version if smi else '?'}; nvidia-smi inside sees {len(gpus)} GPU(s)",
                          observed=len(gpus), **kw)


CHECKS = (WeightsComplete, ServerArgsFit, CudaCompat)
