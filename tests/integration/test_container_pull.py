"""A missing image is pulled with progress, from a real registry protocol server.

No public registry is reachable here, so the test serves one itself: a small
Docker Registry HTTP API v2 on 127.0.0.1 (which Docker trusts over plain HTTP),
holding an image built locally from scratch (a static binary plus a few MB of
random data) and then removed from the engine, so the engine has to pull it.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import TEST_LABEL, TEST_LABELS, TEST_RUN
from container_helpers import (
    Recorder,
    cleanup,
    make_context,
    make_stack,
    project_name,
    service,
    until,
)

from devenv.runtime.container import ContainerUnit, prepare_project

pytestmark = pytest.mark.docker

MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
CHUNK = 256 * 1024


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Registry:
    """Serves one image: its manifest, config and gzipped layers, slowly enough
    that the engine reports download progress."""

    def __init__(self, saved: bytes) -> None:
        self.blobs: dict[str, bytes] = {}
        with tarfile.open(fileobj=io.BytesIO(saved)) as tar:
            index = json.loads(self._member(tar, "manifest.json"))[0]
            config = self._member(tar, index["Config"])
            layers = []
            for name in index["Layers"]:
                blob = gzip.compress(self._member(tar, name), compresslevel=1)
                self.blobs[digest(blob)] = blob
                layers.append(
                    {
                        "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                        "size": len(blob),
                        "digest": digest(blob),
                    }
                )
        self.blobs[digest(config)] = config
        self.manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": MANIFEST,
                "config": {
                    "mediaType": "application/vnd.docker.container.image.v1+json",
                    "size": len(config),
                    "digest": digest(config),
                },
                "layers": layers,
            }
        ).encode()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @staticmethod
    def _member(tar: tarfile.TarFile, name: str) -> bytes:
        member = tar.extractfile(name)
        assert member is not None
        return member.read()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def do_HEAD(self) -> None:
                self.answer(body=False)

            def do_GET(self) -> None:
                self.answer(body=True)

            def answer(self, body: bool) -> None:
                if self.path == "/v2/":
                    self.send(200, b"{}", "application/json", body)
                elif re.match(r"^/v2/.+/manifests/[^/]+$", self.path):
                    self.send(200, registry.manifest, MANIFEST, body, digest(registry.manifest))
                elif match := re.match(r"^/v2/.+/blobs/(sha256:[0-9a-f]+)$", self.path):
                    blob = registry.blobs.get(match.group(1))
                    if blob is None:
                        self.send(404, b"{}", "application/json", body)
                    else:
                        self.send(200, blob, "application/octet-stream", body, match.group(1))
                else:
                    self.send(404, b"{}", "application/json", body)

            def send(
                self, code: int, data: bytes, kind: str, body: bool, dig: str | None = None
            ) -> None:
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Docker-Distribution-API-Version", "registry/2.0")
                if dig:
                    self.send_header("Docker-Content-Digest", dig)
                self.end_headers()
                if not body:
                    return
                for start in range(0, len(data), CHUNK):
                    self.wfile.write(data[start : start + CHUNK])
                    self.wfile.flush()
                    if len(data) > CHUNK:
                        time.sleep(0.05)  # a pace at which progress can be seen

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def __enter__(self) -> Registry:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def registry_image(docker_client: Any, tmp_path: Path) -> Iterator[tuple[Registry, str]]:
    tini = shutil.which("docker-init") or "/usr/bin/docker-init"
    if not Path(tini).is_file():
        pytest.skip("no static docker-init (tini) to build a from-scratch image with")
    context = tmp_path / "image"
    context.mkdir()
    shutil.copy(tini, context / "tini")
    (context / "blob").write_bytes(os.urandom(3 * 1024 * 1024))  # incompressible
    (context / "Dockerfile").write_text(
        'FROM scratch\nCOPY tini /tini\nCOPY blob /blob\nCMD ["/tini", "--version"]\n'
    )
    source = f"devenv-test-pull-src:{uuid.uuid4().hex[:8]}"
    image, _ = docker_client.images.build(
        path=str(context), tag=source, labels={TEST_LABEL: TEST_RUN}, rm=True, forcerm=True
    )
    saved = b"".join(image.save(named=True))
    docker_client.images.remove(source, force=True)
    with Registry(saved) as registry:
        name = f"127.0.0.1:{registry.port}/devenv-test/pull:{uuid.uuid4().hex[:8]}"
        try:
            yield registry, name
        finally:
            for tag in (name, source):
                with contextlib.suppress(Exception):  # already gone
                    docker_client.images.remove(tag, force=True)


async def test_missing_image_is_pulled_with_progress(
    docker_client: Any,
    registry_image: tuple[Registry, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, image = registry_image
    monkeypatch.setenv("DEVENV_EXTRA_LABELS", TEST_LABELS)
    project = project_name()
    pulled = service("pulled", tmp_path, image=image)
    stack = make_stack(project, tmp_path, pulled)
    recorder = Recorder()
    ctx = make_context(stack, tmp_path, recorder)
    try:
        await prepare_project(ctx)
        unit = ContainerUnit(pulled, 1, ctx)
        await unit.start()
        assert await unit.wait_exit() == 0
        await until(lambda: any("tini version" in line for line in recorder.lines()), timeout=10)

        events = recorder.progress
        assert {e.action for e in events} == {"pull"}
        assert events[0].status == f"pulling {image}" and events[-1].status == f"pulled {image}"
        sized = [e for e in events if e.total]
        assert sized, [e.status for e in events]
        assert all(e.current is not None and 0 < e.current <= e.total for e in sized if e.total)
        assert max(e.total or 0 for e in sized) >= 3 * 1024 * 1024
        assert {e.unit for e in events} == {"pulled"}
    finally:
        cleanup(docker_client, project)


def test_doctor_tells_pullable_from_unpullable_images(
    registry_image: tuple[Registry, str], tmp_path: Path
) -> None:
    _, image = registry_image
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead_port = closed.getsockname()[1]
    unreachable = f"127.0.0.1:{dead_port}/devenv-test/nowhere:1"
    project = tmp_path / "proj"
    project.mkdir()
    (project / "compose.yaml").write_text(
        f"services:\n  good:\n    image: {image}\n  bad:\n    image: {unreachable}\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "devenv", "doctor"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stdout
    assert f"ok    image {image} (good) will be pulled" in result.stdout
    assert f"FAIL  image {unreachable} (bad) is missing and cannot be pulled:" in result.stdout
