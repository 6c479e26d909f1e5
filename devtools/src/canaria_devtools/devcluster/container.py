"""One container of a runner pod as a local process: start, probe, restart with back-off.

Probes (``httpGet``/``tcpSocket`` against ``podIP:port``; ``exec`` probes count as passing): a
startup probe gates the others and kills the process when ``failureThreshold x periodSeconds``
pass without success. Readiness is polled every second: ready on a success, not ready after
``failureThreshold`` failures in a row (or at once before the first success); without a
readiness probe the container is ready while it runs. Liveness runs every ``periodSeconds``
and kills the process after ``failureThreshold`` failures in a row.
A process that exits is restarted per ``restartPolicy`` after a back-off of 1, 2, 4 ... 30
seconds (reset after 30 s of running), shown as ``Waiting/CrashLoopBackOff`` with the restart
count and the last termination in ``containerStatuses``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from .podspec import ContainerPlan, Probe
from .podstatus import ContainerState
from .runner_files import PID_SUFFIX

__all__ = ["ContainerProcess", "probe_once"]

BACKOFF_START_S = 1.0
TERMINATION_MESSAGE_BYTES = 2048
TERMINATION_MESSAGE_LINES = 80
BACKOFF_MAX_S = 30.0
BACKOFF_RESET_S = 30.0
START_ERROR_EXIT = 128
POLL_S = 1.0  # readiness and startup probes are polled this often, whatever periodSeconds says


async def probe_once(probe: Probe, host: str, client: httpx.AsyncClient) -> bool:
    if probe.kind == "none" or probe.port is None:
        return True
    if probe.kind == "tcp":
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(host, probe.port), probe.timeout
            )
        except (OSError, TimeoutError):
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True
    url = f"{probe.scheme.lower()}://{host}:{probe.port}{probe.path}"
    try:
        resp = await client.get(url, timeout=probe.timeout)
    except httpx.HTTPError:
        return False
    return 200 <= resp.status_code < 400


class ContainerProcess:
    """Runs one :class:`ContainerPlan`; reports every change through ``on_change``."""

    def __init__(
        self,
        plan: ContainerPlan,
        *,
        pod_dir: Path,
        pod_ip: str,
        on_change: Callable[[], None],
        http: httpx.AsyncClient,
        grace_s: float = 10.0,
    ) -> None:
        self.plan = plan
        self.pod_dir = pod_dir
        self.pod_ip = pod_ip
        self.on_change = on_change
        self.http = http
        self.grace_s = grace_s
        self.state = ContainerState(plan.name, plan.image)
        self.proc: asyncio.subprocess.Process | None = None
        self._backoff = BACKOFF_START_S
        self.stopping = False

    @property
    def pid_file(self) -> Path:
        return self.pod_dir / f"{self.plan.name}{PID_SUFFIX}"

    @property
    def log_file(self) -> Path:
        return self.pod_dir / "logs" / f"{self.plan.name}.log"

    async def _spawn(self) -> asyncio.subprocess.Process | None:
        def open_log() -> int:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            return os.open(self.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

        fd = await asyncio.to_thread(open_log)
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.plan.argv,
                env=self.plan.env,
                cwd=self.plan.cwd,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=fd,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            self.state.waiting("StartError", f"cannot start {self.plan.argv[0]}: {exc}")
            return None
        finally:
            os.close(fd)
        await asyncio.to_thread(self.pid_file.write_text, str(proc.pid))
        return proc

    async def run_once(self) -> int:
        """Start the process, probe it until it exits; returns the exit code."""
        proc = await self._spawn()
        if proc is None:
            self.on_change()
            return START_ERROR_EXIT
        self.proc = proc
        self.state.running(proc.pid)
        self.on_change()
        prober = asyncio.create_task(self._probe_loop(proc))
        try:
            code = await proc.wait()
        finally:
            if proc.returncode is None:  # cancelled: never leave the process behind
                self._signal(signal.SIGKILL)
            prober.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await prober
            self.proc = None
            with contextlib.suppress(FileNotFoundError):
                await asyncio.to_thread(self.pid_file.unlink)
        message = ""
        if code != 0 and self.plan.message_from_logs:
            message = await asyncio.to_thread(log_tail, self.log_file)
        self.state.terminated(code, message)
        self.on_change()
        return code

    async def _startup(self, proc: asyncio.subprocess.Process, probe: Probe) -> bool:
        """Wait for the startup probe; False once its budget (threshold x period) is spent."""
        deadline = time.monotonic() + probe.initial_delay + probe.failure_threshold * probe.period
        await asyncio.sleep(probe.initial_delay)
        while proc.returncode is None and time.monotonic() < deadline:
            if await probe_once(probe, self.pod_ip, self.http):
                return True
            await asyncio.sleep(POLL_S)
        return False

    def _set_ready(self, ready: bool) -> None:
        if ready != self.state.ready:
            self.state.ready = ready
            self.on_change()

    async def _probe_loop(self, proc: asyncio.subprocess.Process) -> None:
        """Startup probe first (gates the others), then readiness every second and liveness
        every ``periodSeconds``; a spent startup budget or failed liveness kills the process."""
        readiness, liveness, startup = self.plan.readiness, self.plan.liveness, self.plan.startup
        if startup is not None and not await self._startup(proc, startup):
            self._signal(signal.SIGKILL)
            return
        started = time.monotonic()
        if readiness is None:
            self._set_ready(True)
        next_live = started + (liveness.initial_delay if liveness else 0.0)
        ready_failures = live_failures = 0
        while proc.returncode is None:
            now = time.monotonic()
            if readiness is not None and now - started >= readiness.initial_delay:
                ok = await probe_once(readiness, self.pod_ip, self.http)
                ready_failures = 0 if ok else ready_failures + 1
                if proc.returncode is None:
                    if ok:
                        self._set_ready(True)
                    elif not self.state.ready or ready_failures >= readiness.failure_threshold:
                        self._set_ready(False)
            if liveness is not None and now >= next_live:
                next_live = now + liveness.period
                ok = await probe_once(liveness, self.pod_ip, self.http)
                live_failures = 0 if ok else live_failures + 1
                if live_failures >= liveness.failure_threshold:
                    self._signal(signal.SIGKILL)
                    return
            await asyncio.sleep(POLL_S)

    async def run_forever(self, restart: Callable[[int], bool]) -> int:
        """Run, restarting while ``restart(exit_code)`` says so; returns the last exit code."""
        if self.plan.error:
            self.state.waiting("UnsupportedCommand", self.plan.error)
            self.on_change()
            await asyncio.Event().wait()  # never runs; stays Waiting until the pod goes
        while True:
            started = time.monotonic()
            code = await self.run_once()
            if self.stopping or not restart(code):
                return code
            if time.monotonic() - started >= BACKOFF_RESET_S:
                self._backoff = BACKOFF_START_S
            delay = self._backoff
            self._backoff = min(self._backoff * 2, BACKOFF_MAX_S)
            self.state.restart_count += 1
            self.state.waiting(
                "CrashLoopBackOff",
                f"back-off {delay:.0f}s restarting failed container={self.plan.name} "
                f"(exit code {code})",
            )
            self.on_change()
            await asyncio.sleep(delay)

    def _signal(self, sig: signal.Signals) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)

    async def stop(self) -> None:
        """SIGTERM the process group, SIGKILL after the grace period."""
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        self._signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), self.grace_s)
        except TimeoutError:
            self._signal(signal.SIGKILL)
            await proc.wait()


def log_tail(path: Path) -> str:
    """What a kubelet reports for FallbackToLogsOnError: the last 80 lines, at most 2048 bytes."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - TERMINATION_MESSAGE_BYTES))
            data = f.read()
    except OSError:
        return ""
    lines = data.decode("utf-8", "replace").splitlines()[-TERMINATION_MESSAGE_LINES:]
    return "\n".join(lines).strip()
