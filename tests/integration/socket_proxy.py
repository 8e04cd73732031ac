"""A unix-socket proxy in front of the Docker Engine, for fault tests: killing it
cuts every connection devenv has to Docker (its event stream, its log streams,
its API calls) and makes new ones fail, as a daemon restart or a dying socket
proxy would; starting it again restores the API.

    python socket_proxy.py LISTEN_PATH [TARGET_PATH]   (target: /var/run/docker.sock)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def main(listen: str, target: str) -> None:
    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            upstream_r, upstream_w = await asyncio.open_unix_connection(target)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(pipe(client_r, upstream_w), pipe(upstream_r, client_w))

    with contextlib.suppress(FileNotFoundError):
        os.unlink(listen)
    server = await asyncio.start_unix_server(handle, path=listen)
    print("listening", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "/var/run/docker.sock"))
