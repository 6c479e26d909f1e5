"""Running things inside the dev cluster's network namespace, where pods can reach them.

Pods may send packets only to addresses inside the namespace, so anything they must reach
that is not itself a pod (the tests' and the demo's model files, a tracking server) runs in the
namespace and listens on the node IP. ``FileServer`` serves a folder over HTTP that way:
``canaria fetch http://<node-ip>:<port>/model.onnx`` works from any pod, and the host reaches
it too (through the veth).

    python -m canaria_devtools.devcluster.inside FOLDER --bind IP   # prints its port, serves
"""

from __future__ import annotations

import argparse
import functools
import http.server
import shutil
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["FileServer", "netns_argv", "popen_inside"]


def netns_argv(netns: str, argv: list[str]) -> list[str]:
    ip = shutil.which("ip", path="/usr/sbin:/usr/bin:/sbin:/bin") or "ip"
    return [ip, "netns", "exec", netns, *argv]


def popen_inside(netns: str, argv: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
    """Start ``argv`` in the namespace (same environment, same user)."""
    return subprocess.Popen(netns_argv(netns, argv), **kwargs)


class FileServer:
    """A folder served over HTTP from inside the namespace on ``bind`` (the node IP)."""

    def __init__(self, netns: str, folder: Path, bind: str) -> None:
        self.netns, self.folder, self.bind = netns, folder, bind
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{self.bind}:{self.port}"

    def start(self) -> FileServer:
        argv = [sys.executable, "-m", __name__, str(self.folder), "--bind", self.bind]
        self.proc = popen_inside(
            self.netns, argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.isdigit():
            self.stop()
            raise RuntimeError(f"the file server in {self.netns} did not start ({line!r})")
        self.port = int(line)
        return self

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> FileServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--bind", required=True)
    args = parser.parse_args()
    handler = functools.partial(_Quiet, directory=str(args.folder))
    server = http.server.ThreadingHTTPServer((args.bind, 0), handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
