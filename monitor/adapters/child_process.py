"""Stopping a child process: a polite signal, then SIGKILL if it does not exit in time."""

from __future__ import annotations

import subprocess

__all__ = ["stop_child"]


def stop_child(process: subprocess.Popen[bytes], timeout: float) -> int:
    """SIGTERM, up to ``timeout`` seconds to exit, then SIGKILL; the exit code.

    >>> import sys
    >>> stop_child(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]), 5) < 0
    True
    """
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode
