"""A webhook receiver for the end-to-end tests, run inside the dev cluster's network
namespace (the operator's pod can reach only addresses in there).

    python tests/e2e/hook_receiver.py DIR --bind IP     # prints its port, then serves

``POST /<name>`` appends the JSON body to ``DIR/<name>.jsonl`` and answers with the status
in ``DIR/<name>.code`` (200 when that file does not exist): the test changes a hook's answer
by writing that file.
"""

from __future__ import annotations

import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", type=Path)
    parser.add_argument("--bind", required=True)
    args = parser.parse_args()
    folder: Path = args.folder

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            name = self.path.strip("/").replace("/", "_") or "root"
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            with (folder / f"{name}.jsonl").open("a") as f:
                f.write(json.dumps(json.loads(body or b"null")) + "\n")
            code_file = folder / f"{name}.code"
            code = int(code_file.read_text()) if code_file.exists() else 200
            answer = b"ok" if code < 300 else b"not yet"
            self.send_response(code)
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((args.bind, 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
