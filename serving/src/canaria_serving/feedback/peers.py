"""The other serving pods of the model, for a feedback call's fan-out.

Their addresses come from DNS: the operator's headless Service ``<name>-feedback`` selects
every Ready serving pod of the ModelDeployment (all versions: stable, canary, the warm old
stable, a rolled-back canary still warm), so its name resolves to their pod IPs. This pod's
own addresses are left out (it claims locally). Outside Kubernetes the setting may list
names or addresses separated by commas (every pod listening on the same port). Each pod gets
the whole call on ``/internal/feedback`` and answers per id; a pod that does not answer in
time makes its share "unreachable" (reported only for ids no other pod matched).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import dataclass, field

import httpx
import orjson

from canaria_serving import contract
from canaria_serving.feedback.truth import Item

__all__ = ["PeerAnswers", "Peers", "own_addresses"]


@dataclass
class PeerAnswers:
    answers: list[dict[str, str | None]] = field(default_factory=list)
    failed: int = 0


def own_addresses(host: str) -> set[str]:
    """This pod's IPs (its hostname resolves to them in /etc/hosts), the address it
    listens on, and loopback."""
    found = {"127.0.0.1", "::1", host}
    with contextlib.suppress(OSError):
        found.update(socket.gethostbyname_ex(socket.gethostname())[2])
    return found


class Peers:
    def __init__(self, names: str | None, host: str, port: int, timeout: float) -> None:
        self.names = [n.strip() for n in (names or "").split(",") if n.strip()]
        self.port, self.timeout = port, timeout
        self._own = own_addresses(host)

    async def addresses(self) -> list[str]:
        loop = asyncio.get_running_loop()
        found: set[str] = set()
        for name in self.names:
            try:
                infos = await loop.getaddrinfo(name, self.port, type=socket.SOCK_STREAM)
            except OSError:  # no Ready pod behind the name, or no DNS: not a peer
                continue
            found.update(str(i[4][0]) for i in infos)
        return sorted(found - self._own)

    async def claim(self, items: list[Item]) -> PeerAnswers:
        out = PeerAnswers()
        addresses = await self.addresses()
        if not addresses:
            return out
        body = orjson.dumps({"feedback": [{"id": i.id, "truth": i.truth} for i in items]})
        # a pod that is going away may still be listed for a moment: do not wait long for it
        timeout = httpx.Timeout(self.timeout, connect=min(self.timeout, 0.5))
        async with httpx.AsyncClient(timeout=timeout) as client:
            replies = await asyncio.gather(
                *(self._one(client, ip, body) for ip in addresses), return_exceptions=True
            )
        for reply in replies:
            if isinstance(reply, dict):
                out.answers.append(reply)
            else:
                out.failed += 1
        return out

    async def _one(self, client: httpx.AsyncClient, ip: str, body: bytes) -> dict[str, str | None]:
        host = f"[{ip}]" if ":" in ip else ip
        resp = await client.post(
            f"http://{host}:{self.port}{contract.PATH_INTERNAL_FEEDBACK}",
            content=body,
            headers={"content-type": "application/json"},
        )
        resp.raise_for_status()
        results = orjson.loads(resp.content)["results"]
        return {str(r["id"]): r.get("reason") for r in results}
