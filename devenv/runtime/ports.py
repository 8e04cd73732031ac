"""Is a port free, and if not, who holds it."""

from __future__ import annotations

import errno
import socket

from devenv.errors import PortInUseError


def port_is_free(port: int, host: str = "0.0.0.0") -> bool:
    """Try to bind it, the way the service will. SO_REUSEADDR so that sockets in
    TIME_WAIT (our own previous instance) do not count as taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as error:
            if error.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def port_holder(port: int) -> tuple[int, str] | None:
    """(pid, command line) of the process listening on `port`, when it can be seen."""
    import psutil

    try:
        connections = psutil.net_connections(kind="inet")
    except (psutil.AccessDenied, OSError):
        return None
    for conn in connections:
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN:
            if conn.pid is None:
                return None
            try:
                proc = psutil.Process(conn.pid)
                command = " ".join(proc.cmdline()) or proc.name()
            except psutil.Error:
                command = "?"
            return conn.pid, command
    return None


def check_ports_free(ports: tuple[int, ...], service: str) -> None:
    """Raise PortInUseError naming the holder of the first taken port."""
    for port in ports:
        if port_is_free(port):
            continue
        holder = port_holder(port)
        if holder:
            pid, command = holder
            who = f"pid {pid} ({command[:200]})"
            hint = f"stop pid {pid}, or change the port in x-devenv.ports"
        else:
            who = "another process"
            hint = "free the port, or change it in x-devenv.ports"
        raise PortInUseError(
            f"port {port} is already in use by {who}",
            hint=hint,
            service=service,
            key="x-devenv.ports",
        )
