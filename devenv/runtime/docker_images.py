"""Make sure a service's image is there: use it, pull it, or build it.

Blocking calls on a docker client; the container unit runs them in a thread.
Pull progress is summed over layers and reported at most every PROGRESS_EVERY
seconds; build output is passed on line by line as the service's log.

A pull or a build can be cancelled from another thread (`Cancel.cancel()`): its
stream is closed, which makes the Engine cancel it too, and `ensure_image`
raises `Cancelled`.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from devenv.config.model import Service
from devenv.errors import ImageError

PROGRESS_EVERY = 0.1  # seconds between progress reports of one pull

ProgressFn = Callable[[str, str, int | None, int | None], None]  # action, status, current, total
LineFn = Callable[[str], None]
PhaseFn = Callable[[str], None]  # "pull" or "build", when one begins


class Cancelled(Exception):
    """The pull or build was cancelled."""


class Cancel:
    """Lets another thread stop a pull or build in flight."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._stream: Any = None

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def cancel(self) -> None:
        self._event.set()
        with self._lock:
            stream = self._stream
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()  # unblocks the reading thread

    def check(self) -> None:
        if self.cancelled:
            raise Cancelled

    def follow(self, generator: Any) -> Iterator[Any]:
        """Iterate a docker-py response stream that `cancel` can close."""
        from docker.types import CancellableStream

        # docker-py returns a generator over the HTTP response; its frame holds
        # the response, which is what can be closed from another thread.
        frame = getattr(generator, "gi_frame", None)
        response = frame.f_locals.get("response") if frame is not None else None
        stream = CancellableStream(generator, response) if response is not None else generator
        with self._lock:
            self._stream = stream if response is not None else None
        self.check()
        try:
            yield from stream
        finally:
            with self._lock:
                self._stream = None
        self.check()


def split_image(image: str) -> tuple[str, str | None]:
    """("repo", tag) — a digest or tag after the last path component, else no tag."""
    if "@" in image:
        repo, digest = image.split("@", 1)
        return repo, digest
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        repo, tag = image.rsplit(":", 1)
        return repo, tag
    return image, None


def image_id(client: Any, image: str) -> str | None:
    import docker.errors

    try:
        return str(client.api.inspect_image(image)["Id"])
    except docker.errors.ImageNotFound:
        return None
    except docker.errors.NotFound:
        return None


def ensure_image(
    client: Any,
    service: Service,
    image: str,
    progress: ProgressFn,
    build_line: LineFn,
    on_phase: PhaseFn | None = None,
    cancel: Cancel | None = None,
) -> str:
    """The image's id, after pulling or building it when needed.

    Raises ImageError naming the image and the reason when it cannot be had, and
    Cancelled when `cancel` was used."""
    cancel = cancel or Cancel()
    phase = on_phase or (lambda _phase: None)
    policy = str(service.extra.get("pull_policy") or "missing")
    present = image_id(client, image)
    if service.build is not None and (present is None or policy == "build"):
        phase("build")
        return build_image(client, service, image, progress, build_line, cancel)
    if present is not None and policy not in ("always",):
        return present
    if policy == "never":
        raise ImageError(
            f"image '{image}' is not present and pull_policy is 'never'",
            service=service.name,
            hint=f"pull or build it first: docker pull {image}",
        )
    phase("pull")
    pull_image(client, service, image, progress, cancel)
    found = image_id(client, image)
    if found is None:
        raise ImageError(f"image '{image}' is still missing after the pull", service=service.name)
    return found


def pull_image(
    client: Any, service: Service, image: str, progress: ProgressFn, cancel: Cancel | None = None
) -> None:
    import docker.errors

    cancel = cancel or Cancel()
    repo, tag = split_image(image)
    # layer -> (done, size), per phase: downloads, then extraction (its own sizes)
    phases: dict[str, dict[str, tuple[int, int]]] = {"download": {}, "extract": {}}
    last = 0.0
    progress("pull", f"pulling {image}", None, None)
    try:
        stream = client.api.pull(repo, tag=tag or "latest", stream=True, decode=True)
        for event in cancel.follow(stream):
            if "error" in event:
                raise pull_failed(service, image, str(event["error"]))
            status = str(event.get("status") or "pulling")
            layer = event.get("id")
            detail = event.get("progressDetail") or {}
            phase = phases["extract" if status.startswith("Extracting") else "download"]
            if layer and detail.get("total"):
                phase[layer] = (int(detail.get("current", 0)), int(detail["total"]))
            elif layer in phase and status in ("Download complete", "Pull complete"):
                phase[layer] = (phase[layer][1], phase[layer][1])
            now = time.monotonic()
            if now - last >= PROGRESS_EVERY:
                last = now
                current = sum(c for c, _ in phase.values())
                total = sum(t for _, t in phase.values())
                progress("pull", status, current or None, total or None)
    except docker.errors.APIError as error:
        raise pull_failed(service, image, api_reason(error)) from None
    progress("pull", f"pulled {image}", None, None)


def pull_failed(service: Service, image: str, reason: str) -> ImageError:
    return ImageError(
        f"cannot pull image '{image}': {reason}",
        service=service.name,
        key="image",
        hint="check the image name and tag, your network and `docker login`; "
        "or build it locally and tag it with that name",
    )


def api_reason(error: Any) -> str:
    explanation = getattr(error, "explanation", None)
    text = str(explanation or error)
    return text if len(text) <= 300 else text[:297] + "..."


def build_image(
    client: Any,
    service: Service,
    image: str,
    progress: ProgressFn,
    build_line: LineFn,
    cancel: Cancel | None = None,
) -> str:
    import docker.errors

    cancel = cancel or Cancel()
    build = dict(service.build or {})
    context = build.get("context")
    if not context:
        raise ImageError("build: has no context", service=service.name, key="build")
    args = build.get("args") or {}
    progress("build", f"building {image}", None, None)
    built: str | None = None
    partial = ""
    try:
        stream = client.api.build(
            path=str(context),
            dockerfile=build.get("dockerfile"),
            tag=image,
            buildargs={str(k): str(v) for k, v in dict(args).items() if v is not None},
            target=build.get("target"),
            labels=dict(build.get("labels") or {}) or None,
            network_mode=build.get("network"),
            rm=True,
            forcerm=True,  # no intermediate containers left behind by a failed step
            decode=True,
        )
        for event in cancel.follow(stream):
            if "error" in event:
                raise ImageError(
                    f"cannot build image '{image}': {str(event['error']).strip()}",
                    service=service.name,
                    key="build",
                    hint=f"see the build output above; the context is {context}",
                )
            if "aux" in event and isinstance(event["aux"], dict) and "ID" in event["aux"]:
                built = str(event["aux"]["ID"])
            text = partial + str(event.get("stream", ""))
            *lines, partial = text.split("\n")
            for line in lines:
                if line.strip():
                    build_line(line.rstrip("\r"))
                    progress("build", line.strip(), None, None)
    except docker.errors.APIError as error:
        raise ImageError(
            f"cannot build image '{image}': {api_reason(error)}",
            service=service.name,
            key="build",
        ) from None
    except (OSError, TypeError) as error:  # unreadable context, bad dockerfile path
        raise ImageError(
            f"cannot build image '{image}': {error}", service=service.name, key="build"
        ) from None
    if partial.strip():
        build_line(partial)
    found = image_id(client, image) or built
    if found is None:
        raise ImageError(f"the build of '{image}' produced no image", service=service.name)
    progress("build", f"built {image}", None, None)
    return found
