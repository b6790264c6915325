"""Whether a port a process is told to listen on is free, checked before it starts: a port another
process holds (a worker already running on this machine, with the same default port) is one line
naming the setting, not a traceback from deep inside the web server's start."""

from __future__ import annotations

import errno
import socket

from monitor.errors import ConfigError

__all__ = ["check_listen", "local_url"]


def check_listen(host: str, port: int, setting: str) -> None:
    """``ConfigError`` naming ``setting`` when ``host:port`` cannot be bound.

    >>> with socket.socket() as taken:
    ...     taken.bind(("127.0.0.1", 0))
    ...     taken.listen()
    ...     port = taken.getsockname()[1]
    ...     try:
    ...         check_listen("127.0.0.1", port, "MONITOR_WEB_PORT")
    ...     except ConfigError as exc:
    ...         print(str(exc).replace(str(port), "PORT"))
    MONITOR_WEB_PORT=PORT: 127.0.0.1:PORT is taken by another process (a worker or judge already running here?): set MONITOR_WEB_PORT to a free port
    """
    if port == 0:
        return  # any free port
    try:
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except (OSError, UnicodeError):  # UnicodeError: a name with a label over 63 characters
        return  # an unknown host is the server's own error to report
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as probe:
            # as asyncio's server binds: a port whose old connections are in TIME_WAIT is free
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno not in (errno.EADDRINUSE, errno.EACCES):
                    continue  # e.g. IPv6 turned off: left to the server
                reason = (
                    "is taken by another process (a worker or judge already running here?)"
                    if exc.errno == errno.EADDRINUSE
                    else f"cannot be listened on ({exc.strerror})"
                )
                raise ConfigError(
                    f"{setting}={port}: {host}:{port} {reason}: set {setting} to a free port"
                ) from None


def local_url(host: str, port: int) -> str:
    """How local processes reach a server listening on ``host:port`` (all interfaces: through
    127.0.0.1; an IPv6 address in brackets).

    >>> local_url("0.0.0.0", 6066), local_url("::1", 8050)
    ('http://127.0.0.1:6066', 'http://[::1]:8050')
    """
    host = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
