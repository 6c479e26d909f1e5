"""Side-by-side serving benchmark: `canaria serve` vs a naive FastAPI server vs KServe.

    .venv/bin/python bench/serving_bench.py [--duration 10] [--connections 16] [--skip-kserve]

One worker each, the same load generator (wrk, Debian package `wrk`, POST bodies through a Lua
script), 16 connections, the same ONNX model: the seeds' RandomForestClassifier(n_estimators=100,
max_depth=10) on 20 features from make_classification, converted with skl2onnx (zipmap off).
KServe (PyPI `kserve`) is installed into its own venv under ~/.cache/canaria/bench-venv so its
pins never touch the project venv. Servers run one after the other (never concurrently) on
127.0.0.1; the machine's load average is printed with every run, since a shared 2-core machine
skews absolute figures (ratios within one run are the meaningful part).

Prints req/s, p50, p99 per server/endpoint, the ratios against both baselines, canaria with
micro-batching on, a 1000-row V2 request against raw onnxruntime in-process, and canaria's RSS.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CACHE = Path.home() / ".cache" / "canaria"
BENCH_VENV = CACHE / "bench-venv"
KSERVE_PIN = "kserve==0.21.0"
ROW = [round(0.1 * i - 1.0, 3) for i in range(20)]


@dataclass
class Result:
    label: str
    rps: float
    p50_ms: float
    p99_ms: float
    load: float


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_model(directory: Path) -> tuple[Path, np.ndarray]:
    from skl2onnx import to_onnx
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    x, y = make_classification(n_samples=5000, n_features=20, random_state=0)
    x = x.astype(np.float32)
    model = RandomForestClassifier(n_estimators=100, max_depth=10, random_state=0).fit(x, y)
    onx = to_onnx(model, x[:1], options={"zipmap": False}, target_opset=17)
    path = directory / "rf.onnx"
    path.write_bytes(onx.SerializeToString())
    return path, x


def ensure_kserve_venv() -> Path:
    python = BENCH_VENV / "bin" / "python"
    marker = BENCH_VENV / ".canaria-kserve"
    if not marker.exists():
        print(f"creating {BENCH_VENV} with {KSERVE_PIN} (once)...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", KSERVE_PIN, "onnxruntime", "numpy"],
            check=True,
        )
        marker.write_text(KSERVE_PIN)
    return python


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before {url} was ready")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout}s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def lua_script(directory: Path, body: str) -> Path:
    path = directory / f"post-{abs(hash(body))}.lua"
    escaped = body.replace("\\", "\\\\").replace("'", "\\'")
    path.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = '{escaped}'\n"
    )
    return path


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if not m:
        raise ValueError(f"cannot parse wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def run_wrk(
    label: str, url: str, body: str, tmp: Path, *, duration: int, connections: int
) -> Result:
    script = lua_script(tmp, body)
    # warm-up, then the measured run
    subprocess.run(
        ["wrk", "-t1", f"-c{connections}", "-d2s", "-s", str(script), url],
        check=True,
        capture_output=True,
    )
    load = os.getloadavg()[0]
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script), url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{label}: {errors.group(1)} non-2xx responses\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    result = Result(label, rps, p50, p99, load)
    print(
        f"  {label:<44} {rps:>9.0f} req/s  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms"
        f"  (load avg {load:.1f})",
        flush=True,
    )
    return result


def rss_mb(pid: int) -> tuple[float, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]
    hwm = int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]
    return rss, hwm


def keepalive_timer(port: int) -> Callable[[str, bytes, dict[str, str]], float]:
    """Time POSTs over one persistent connection, as V2 clients (tritonclient) do."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def post(path: str, body: bytes, headers: dict[str, str]) -> float:
        t0 = time.perf_counter()
        conn.request("POST", path, body, headers)
        response = conn.getresponse()
        response.read()
        elapsed = time.perf_counter() - t0
        if response.status != 200:
            raise RuntimeError(f"{path}: HTTP {response.status}")
        return elapsed

    return post


def large_request(port: int, x: np.ndarray, model: Path, repeats: int) -> dict[str, float]:
    """Median seconds of a 1000-row V2 request (JSON, and the binary tensor extension), and of
    raw onnxruntime on the same rows."""
    import onnxruntime as ort

    rows = x[:1000]
    body = json.dumps(
        {"inputs": [{"name": "X", "shape": [1000, 20], "datatype": "FP32", "data": rows.tolist()}]}
    ).encode()
    path = "/v2/models/rf/infer"
    post = keepalive_timer(port)
    json_headers = {"Content-Type": "application/json"}
    for _ in range(3):
        post(path, body, json_headers)
    result = {"server": statistics.median(post(path, body, json_headers) for _ in range(repeats))}
    # binary tensor data extension: JSON header + raw float32 rows, raw outputs back
    head = json.dumps(
        {
            "inputs": [
                {
                    "name": "X",
                    "shape": [1000, 20],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": rows.nbytes},
                }
            ],
            "parameters": {"binary_data_output": True},
        }
    ).encode()
    raw_body = head + np.ascontiguousarray(rows, dtype="<f4").tobytes()
    raw_headers = {
        "Content-Type": "application/octet-stream",
        "Inference-Header-Content-Length": str(len(head)),
    }
    for _ in range(3):
        post(path, raw_body, raw_headers)
    result["server_binary"] = statistics.median(
        post(path, raw_body, raw_headers) for _ in range(repeats)
    )
    time.sleep(1.0)  # the server's large-request threads stop spinning before the baseline
    for label, threads in (("raw_default", None), ("raw_1thread", 1)):
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        times = []
        for i in range(repeats + 3):
            t0 = time.perf_counter()
            session.run(None, {"X": rows})
            if i >= 3:
                times.append(time.perf_counter() - t0)
        result[label] = statistics.median(times)
    return result


def canaria_cmd(model: Path, port: int, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "canaria_operator.cli",
        "serve",
        str(model),
        "--name",
        "rf",
        "--port",
        str(port),
        "--log-level",
        "warning",
        *extra,
    ]


@dataclass
class Target:
    label: str
    path: str
    body: str
    server: str  # key of the server process


def start_servers(
    model: Path, kserve_python: Path | None
) -> dict[str, tuple[subprocess.Popen[bytes], int]]:
    """Every server at once (idle ones cost nothing), so runs can be interleaved."""
    servers: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    specs: dict[str, tuple[list[str], dict[str, str] | None, str, Path | None]] = {}
    p = free_port()
    specs["canaria"] = (canaria_cmd(model, p), None, "/readyz", None)
    p2 = free_port()
    specs["canaria_batch"] = (
        canaria_cmd(model, p2, "--max-batch-size", "1"),
        None,
        "/readyz",
        None,
    )
    p3 = free_port()
    specs["naive"] = (
        [
            sys.executable,
            "-m",
            "uvicorn",
            "naive_server:app",
            "--port",
            str(p3),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        {**os.environ, "NAIVE_MODEL": str(model)},
        "/docs",
        HERE,
    )
    p5 = free_port()
    specs["bare"] = (
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bare_asgi:app",
            "--port",
            str(p5),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--log-level",
            "warning",
            "--no-access-log",
            "--lifespan",
            "off",
        ],
        {**os.environ, "BARE_MODEL": str(model)},
        "/",
        HERE,
    )
    if kserve_python is not None:
        p4 = free_port()
        specs["kserve"] = (
            [str(kserve_python), str(HERE / "kserve_server.py"), str(model), str(p4)],
            None,
            "/v1/models/rf",
            None,
        )
    ports = {"canaria": p, "canaria_batch": p2, "naive": p3, "bare": p5}
    if kserve_python is not None:
        ports["kserve"] = p4
    try:
        for key, (cmd, env, ready, cwd) in specs.items():
            proc = subprocess.Popen(
                cmd,
                env=env,
                cwd=cwd,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL if key == "kserve" else None,
            )
            servers[key] = (proc, ports[key])
            wait_ready(f"http://127.0.0.1:{ports[key]}{ready}", proc)
    except BaseException:
        for proc, _ in servers.values():
            stop(proc)
        raise
    return servers


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--duration", type=int, default=8, help="seconds per measured wrk run")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (medians reported)")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--skip-kserve", action="store_true", help="no KServe baseline (no venv)")
    ap.add_argument("--repeats", type=int, default=30, help="1000-row requests to time")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        print("wrk not found: apt-get install -y wrk", file=sys.stderr)
        return 2
    kserve_python = None if args.skip_kserve else ensure_kserve_venv()
    d, c = args.duration, args.connections
    single = json.dumps({"features": ROW})
    v1 = json.dumps({"instances": [ROW]})
    v2 = json.dumps({"inputs": [{"name": "X", "shape": [1, 20], "datatype": "FP32", "data": ROW}]})
    targets = [
        Target("canaria serve  POST /predict", "/predict", single, "canaria"),
        Target("canaria serve  POST /v2/models/rf/infer", "/v2/models/rf/infer", v2, "canaria"),
        Target("canaria serve  POST /v1/models/rf:predict", "/v1/models/rf:predict", v1, "canaria"),
        Target("canaria --max-batch-size 1 (no batching)", "/predict", single, "canaria_batch"),
        Target("naive FastAPI  POST /predict", "/predict", single, "naive"),
        Target("bare ASGI app (ceiling)  POST /predict", "/predict", single, "bare"),
    ]
    if kserve_python is not None:
        targets.append(
            Target(
                "KServe ModelServer  POST /v1/models/rf:predict",
                "/v1/models/rf:predict",
                v1,
                "kserve",
            )
        )
    print(
        f"cpus {os.cpu_count()}, load avg {os.getloadavg()[0]:.1f}, {c} connections, "
        f"{d}s per run, {args.rounds} interleaved rounds, wrk -t1",
        flush=True,
    )
    runs: dict[str, list[Result]] = {t.label: [] for t in targets}
    with tempfile.TemporaryDirectory(prefix="canaria-bench-") as tmpdir:
        tmp = Path(tmpdir)
        model, x = build_model(tmp)
        servers = start_servers(model, kserve_python)
        try:
            for r in range(args.rounds):
                print(f"round {r + 1}", flush=True)
                for t in targets:
                    port = servers[t.server][1]
                    url = f"http://127.0.0.1:{port}{t.path}"
                    runs[t.label].append(
                        run_wrk(t.label, url, t.body, tmp, duration=d, connections=c)
                    )
            large = large_request(servers["canaria"][1], x, model, args.repeats)
            rss, hwm = rss_mb(servers["canaria"][0].pid)
        finally:
            for proc, _ in servers.values():
                stop(proc)

    med = {label: _median(rs) for label, rs in runs.items()}
    print(f"\nmedians over {args.rounds} rounds")
    for label, m in med.items():
        print(f"  {label:<46} {m.rps:>9.0f} req/s  p50 {m.p50_ms:6.2f} ms  p99 {m.p99_ms:6.2f} ms")
    can = med[targets[0].label]
    naive = med["naive FastAPI  POST /predict"]
    print("\nratios (single-row throughput, medians)")
    print(f"  canaria /predict vs naive FastAPI: {can.rps / naive.rps:5.2f}x  (target >= 2.5x)")
    if kserve_python is not None:
        k = med[targets[-1].label]
        print(f"  canaria /predict vs KServe V1:     {can.rps / k.rps:5.2f}x  (target >= 4x)")
        v1m = med["canaria serve  POST /v1/models/rf:predict"]
        print(f"  canaria V1 vs KServe V1:           {v1m.rps / k.rps:5.2f}x")
    bare = med["bare ASGI app (ceiling)  POST /predict"]
    print(f"  canaria /predict vs the bare ASGI ceiling: {can.rps / bare.rps:5.2f}x")
    off = med["canaria --max-batch-size 1 (no batching)"]
    print(f"  micro-batching (default: 16, no delay) vs off: {can.rps / off.rps:5.2f}x")
    print(f"\ncanaria /predict p99 at {c} connections: {can.p99_ms:.2f} ms (target <= 5 ms)")
    s, rd, r1 = large["server"], large["raw_default"], large["raw_1thread"]
    print(
        f"1000-row V2 request over HTTP: {s * 1e3:.2f} ms; raw onnxruntime in-process: "
        f"{rd * 1e3:.2f} ms (default options) = {s / rd:.2f}x, {r1 * 1e3:.2f} ms (1 thread) "
        f"= {s / r1:.2f}x (target <= 1.5x)"
    )
    b = large["server_binary"]
    print(
        f"1000-row V2 request, binary tensor extension: {b * 1e3:.2f} ms = {b / rd:.2f}x raw "
        f"onnxruntime (default options), {b / r1:.2f}x (1 thread) (target <= 1.5x)"
    )
    print(f"canaria RSS after the runs: {rss:.0f} MB (peak {hwm:.0f} MB; target <= 200 MB)")
    print(f"load avg at the end: {os.getloadavg()[0]:.1f}")
    return 0


def _median(results: list[Result]) -> Result:
    return Result(
        results[0].label,
        statistics.median(r.rps for r in results),
        statistics.median(r.p50_ms for r in results),
        statistics.median(r.p99_ms for r in results),
        statistics.median(r.load for r in results),
    )


if __name__ == "__main__":
    sys.exit(main())
