"""The default embedder loads from the installed wheel with no network at all."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from monitor.adapters.embedders import load_embedder
from monitor.errors import ConfigError


def test_wordllama_loads_and_embeds_with_every_connection_refused():
    code = textwrap.dedent("""
        import socket
        def refuse(*args, **kwargs):
            raise OSError("network access attempted")
        socket.socket.connect = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse
        from monitor.adapters.embedders import load_embedder
        e = load_embedder("wordllama")
        v = e.embed(["reset my password", "refund my invoice"])
        print(e.name, v.shape, round(float((v[0] ** 2).sum()), 3))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["wordllama:l2_supercat_256", "(2,", "256)", "1.0"]


def test_unknown_or_absent_embedders_are_named_errors(tmp_path):
    with pytest.raises(ConfigError, match="'word' is not one of wordllama, none"):
        load_embedder("word")
    with pytest.raises(ConfigError, match="not a local directory"):
        load_embedder(f"sentence-transformers:{tmp_path / 'missing'}")
