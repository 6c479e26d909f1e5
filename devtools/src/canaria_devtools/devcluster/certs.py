"""TLS material for the dev cluster, made with the ``openssl`` command line tool.

One CA signs the apiserver's serving certificate and an admin client certificate
(``O=system:masters``); a separate RSA key pair signs and verifies service-account tokens.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

__all__ = ["Pki", "make_pki", "write_kubeconfig"]

_DAYS = "3650"
_SERVER_DNS = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
_SERVER_IPS = ("127.0.0.1",)
_CLIENT_EXT = [
    "basicConstraints=CA:FALSE",
    "keyUsage=critical,digitalSignature,keyEncipherment",
    "extendedKeyUsage=clientAuth",
]


@dataclass(frozen=True)
class Pki:
    """Paths of the PEM files in one folder."""

    root: Path

    @property
    def ca_crt(self) -> Path:
        return self.root / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca.key"

    @property
    def server_crt(self) -> Path:
        return self.root / "apiserver.crt"

    @property
    def server_key(self) -> Path:
        return self.root / "apiserver.key"

    @property
    def admin_crt(self) -> Path:
        return self.root / "admin.crt"

    @property
    def admin_key(self) -> Path:
        return self.root / "admin.key"

    @property
    def sa_key(self) -> Path:
        return self.root / "sa.key"

    @property
    def sa_pub(self) -> Path:
        return self.root / "sa.pub"

    def complete(self) -> bool:
        files = (self.ca_crt, self.ca_key, self.server_crt, self.server_key, self.admin_crt)
        node = [self.root / f"{n}.{e}" for n in _NODE_CERTS for e in ("crt", "key")]
        return all(p.is_file() for p in (*files, self.admin_key, self.sa_key, self.sa_pub, *node))


def _openssl(*args: str, cwd: Path) -> None:
    exe = shutil.which("openssl")
    if exe is None:
        raise RuntimeError("the `openssl` command is needed for the dev cluster's certificates")
    proc = subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {proc.stderr.strip()}")


def _leaf(pki: Pki, name: str, subject: str, extensions: list[str]) -> None:
    root = pki.root
    ext = root / f"{name}.ext"
    ext.write_text("\n".join(extensions) + "\n")
    _openssl(
        "req", "-new", "-newkey", "rsa:2048", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject,
        cwd=root,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", _DAYS, "-sha256", "-extfile", ext.name, "-out", f"{name}.crt",
        cwd=root,
    )  # fmt: skip
    (root / f"{name}.csr").unlink()
    ext.unlink()


_NODE_CERTS = ("kubelet", "kubelet-serving", "kube-proxy")


def make_pki(root: Path, ips: tuple[str, ...] = (), node_name: str = "canaria-node") -> Pki:
    """Create (or keep, when complete) the CA, the API server's serving certificate (for
    ``ips`` too: the node IP and the ``kubernetes`` Service IP), the admin, kubelet and
    kube-proxy client certificates, the kubelet's serving certificate, the service-account
    keys."""
    pki = Pki(root)
    if pki.complete():
        return pki
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o700)
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
        "-days", _DAYS, "-subj", "/CN=canaria-dev-cluster-ca",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
        cwd=root,
    )  # fmt: skip
    sans = [f"DNS:{d}" for d in _SERVER_DNS] + [f"IP:{ip}" for ip in (*_SERVER_IPS, *ips)]
    _leaf(
        pki,
        "apiserver",
        "/CN=kube-apiserver",
        [
            "basicConstraints=CA:FALSE",
            "keyUsage=critical,digitalSignature,keyEncipherment",
            "extendedKeyUsage=serverAuth",
            "subjectAltName=" + ",".join(sans),
        ],
    )
    _leaf(pki, "admin", "/O=system:masters/CN=canaria-dev-admin", _CLIENT_EXT)
    # The kubelet's own identity (Node authorizer + NodeRestriction) and kube-proxy's (bound
    # to system:node-proxier by the API server's default RBAC).
    _leaf(pki, "kubelet", f"/O=system:nodes/CN=system:node:{node_name}", _CLIENT_EXT)
    _leaf(pki, "kube-proxy", "/CN=system:kube-proxy", _CLIENT_EXT)
    node_sans = [f"DNS:{node_name}", *(f"IP:{ip}" for ip in ips)]
    _leaf(
        pki,
        "kubelet-serving",
        f"/CN={node_name}",
        [
            "basicConstraints=CA:FALSE",
            "keyUsage=critical,digitalSignature,keyEncipherment",
            "extendedKeyUsage=serverAuth",
            "subjectAltName=" + ",".join(node_sans),
        ],
    )
    _openssl("genrsa", "-out", "sa.key", "2048", cwd=root)
    _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=root)
    return pki


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def write_kubeconfig(pki: Pki, server: str, path: Path, name: str = "canaria-dev") -> Path:
    """A self-contained kubeconfig (certificates inlined) for the admin identity."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": name,
                "cluster": {"server": server, "certificate-authority-data": _b64(pki.ca_crt)},
            }
        ],
        "users": [
            {
                "name": f"{name}-admin",
                "user": {
                    "client-certificate-data": _b64(pki.admin_crt),
                    "client-key-data": _b64(pki.admin_key),
                },
            }
        ],
        "contexts": [
            {"name": name, "context": {"cluster": name, "user": f"{name}-admin"}},
        ],
        "current-context": name,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path
