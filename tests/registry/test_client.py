"""The operator's MLflow REST client and resolver against a real `mlflow server`; the
pod's directory fetch through its artifact proxy; error classes for every failure."""

from __future__ import annotations

from pathlib import Path

import httpx
import onnxruntime as ort
import pytest

from canaria_operator.fetch import FetchError, fetch
from canaria_operator.registry.client import Credentials, RegistryClient, Server
from canaria_operator.registry.errors import (
    RegistryAuthFailed,
    RegistryNotFound,
    RegistryUnreachable,
)
from canaria_operator.registry.resolve import Follower, Resolver
from canaria_operator.registry.uri import parse_models_uri
from canaria_serving.modeldir import directory_digest
from canaria_serving.packaging.register import TAG_DIGEST, TAG_SHA256
from tests.registry.conftest import Registry


def _follow(registry: Registry, uri: str, tracking: str | None = None) -> Follower:
    return Follower("ns", "md", tracking or registry.url, parse_models_uri(uri))


async def _creds() -> Credentials:
    return Credentials()


async def test_alias_version_and_download_uri(registry: Registry) -> None:
    client = RegistryClient()
    server = Server(registry.url)
    try:
        assert await client.alias_version(server, "iris", "champion") == registry.v1.version
        uri = await client.download_uri(server, "iris", registry.v2.version)
        assert uri.startswith("mlflow-artifacts:/")
        with pytest.raises(RegistryNotFound, match="no-such-alias"):
            await client.alias_version(server, "iris", "no-such-alias")
        with pytest.raises(RegistryNotFound, match="nope"):
            await client.model_version(server, "nope", "1")
        with pytest.raises(RegistryNotFound):
            await client.model_version(server, "iris", "99")
    finally:
        await client.aclose()


async def test_resolve_pins_the_digest_package_register_wrote(registry: Registry) -> None:
    resolver = Resolver()
    try:
        read = await resolver.read(_follow(registry, "models:/iris@champion"), _creds, {}, 60)
        assert read.resolved is not None, read
        assert read.resolved.version == registry.v1.version
        assert read.resolved.digest == registry.v1.digest
        tags = registry.server.client().get_model_version("iris", registry.v1.version).tags
        assert tags[TAG_DIGEST] == registry.v1.digest
        assert tags[TAG_SHA256] == registry.v1.sha256
        heavy = await resolver.read(
            _follow(registry, f"models:/iris/{registry.v2.version}"), _creds, {}, 60
        )
        assert heavy.resolved is not None
        assert heavy.resolved.digest == registry.v2.digest
        assert heavy.resolved.files > read.resolved.files  # model.onnx + its external data
    finally:
        await resolver.aclose()


@pytest.mark.parametrize(
    ("uri", "reason", "words"),
    [
        ("models:/no-such-model@champion", "RegistryModelNotFound", "no-such-model"),
        ("models:/iris@no-such-alias", "RegistryModelNotFound", "no-such-alias"),
        ("models:/iris/99", "RegistryModelNotFound", "99"),
        ("models:/not-onnx/1", "RegistryArtifactNotOnnx", "not an ONNX model"),
    ],
)
async def test_resolution_failures_are_data(
    registry: Registry, uri: str, reason: str, words: str
) -> None:
    resolver = Resolver()
    try:
        read = await resolver.read(_follow(registry, uri), _creds, {}, 60)
    finally:
        await resolver.aclose()
    assert read.resolved is None
    assert read.reason == reason
    assert words in (read.message or "")


async def test_unreachable_server_and_changed_bytes(registry: Registry) -> None:
    resolver = Resolver(RegistryClient(timeout=1.0))
    try:
        down = await resolver.read(
            _follow(registry, "models:/iris@champion", "http://127.0.0.1:9"), _creds, {}, 60
        )
        assert down.reason == "RegistryUnreachable"
        assert down.failures == 1
        follower = _follow(registry, "models:/iris@champion", "http://127.0.0.1:9")
        again = await resolver.read(follower, _creds, {}, 0)  # the cache is bypassed
        assert again.failures == 2  # failures in a row: the decision reports from the second
        pins = {registry.v1.version: "0" * 64}
        changed = await resolver.read(_follow(registry, "models:/iris@champion"), _creds, pins, 60)
        assert changed.reason == "RegistryArtifactChanged"
        assert registry.v1.digest in (changed.message or "")
    finally:
        await resolver.aclose()


async def test_tags_and_alias_written_are_visible_to_mlflow(registry: Registry) -> None:
    client = RegistryClient()
    server = Server(registry.url)
    try:
        await client.set_version_tag(
            server, "iris", registry.v2.version, key="canaria.dev/verdict", value="promoted"
        )
        await client.set_alias(server, "iris", "canaria-stable", registry.v2.version)
    finally:
        await client.aclose()
    mlf = registry.server.client()
    assert mlf.get_model_version("iris", registry.v2.version).tags["canaria.dev/verdict"] == (
        "promoted"
    )
    assert mlf.get_model_version_by_alias("iris", "canaria-stable").version == registry.v2.version
    assert mlf.get_model_version_by_alias("iris", "champion").version == registry.v1.version


async def test_credentials_sent_and_refusal_classified() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(401, json={"error_code": "UNAUTHENTICATED", "message": "bad token"})

    client = RegistryClient(transport=httpx.MockTransport(answer))
    try:
        with pytest.raises(RegistryAuthFailed, match="bad token"):
            await client.alias_version(Server("http://mlflow", Credentials(token="t0k")), "m", "a")
        creds = Credentials(username="u", password="p")
        with pytest.raises(RegistryAuthFailed):
            await client.model_version(Server("http://mlflow", creds), "m", "1")
    finally:
        await client.aclose()
    assert seen[0].headers["authorization"] == "Bearer t0k"
    assert seen[1].headers["authorization"].startswith("Basic ")

    def broken(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, text="down")

    client = RegistryClient(transport=httpx.MockTransport(broken))
    try:
        with pytest.raises(RegistryUnreachable):
            await client.alias_version(Server("http://mlflow"), "m", "a")
    finally:
        await client.aclose()


def test_fetch_downloads_the_directory_onnxruntime_loads(
    registry: Registry, tmp_path: Path
) -> None:
    import asyncio

    async def location() -> str:
        resolver = Resolver()
        try:
            uri = f"models:/iris/{registry.v2.version}"
            read = await resolver.read(_follow(registry, uri), _creds, {}, 60)
        finally:
            await resolver.aclose()
        assert read.resolved is not None
        return read.resolved.location

    where = asyncio.run(location())
    dest = tmp_path / "model"
    size = fetch(where, dest, registry.v2.digest, retries=0, log=print)
    assert size > 1_000_000
    assert directory_digest(dest) == registry.v2.digest
    data_files = [p for p in dest.iterdir() if p.name not in ("MLmodel", "model.onnx")]
    assert any(p.stat().st_size >= 1_000_000 for p in data_files), data_files  # external data
    session = ort.InferenceSession(str(dest / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["X"]
    with pytest.raises(FetchError) as wrong:
        fetch(where, tmp_path / "other", "f" * 64, retries=0, log=print)
    assert wrong.value.code == 3
    assert not (tmp_path / "other").exists()


async def test_reads_are_cached_per_credentials(registry: Registry) -> None:
    """Two ModelDeployments following the same alias with different Secrets: the second's
    refused credentials are not hidden by the first's cached answer."""
    from canaria_operator.registry.errors import RegistryAuthFailed as Refused

    async def refused() -> Credentials:
        raise Refused("GET .../registered-models/alias: HTTP 401: not authenticated")

    resolver = Resolver()
    ref = parse_models_uri("models:/iris@champion")
    try:
        good = await resolver.read(Follower("ns", "a", registry.url, ref, "good"), _creds, {}, 60)
        bad = await resolver.read(Follower("ns", "b", registry.url, ref, "bad"), refused, {}, 60)
        again = await resolver.read(Follower("ns", "c", registry.url, ref, "good"), refused, {}, 60)
    finally:
        await resolver.aclose()
    assert good.resolved is not None
    assert bad.reason == "RegistryAuthFailed"
    assert again.resolved == good.resolved  # same Secret: the cached answer
    assert [f.name for f in resolver.followers("iris", "champion")] == ["a", "b", "c"]
