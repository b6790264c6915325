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


def test_unset_means_wordllama_when_installed_and_none_with_a_warning_when_not():
    code = textwrap.dedent("""
        import importlib.util, logging, sys
        logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format="%(message)s")
        _find_spec = importlib.util.find_spec
        importlib.util.find_spec = lambda n, *a: None if n == "wordllama" else _find_spec(n, *a)
        sys.modules["wordllama"] = None  # import wordllama raises ImportError
        from monitor.adapters.embedders import load_embedder
        from monitor.errors import ConfigError
        print("unset:", load_embedder(None))
        try:
            load_embedder("wordllama")
        except ConfigError as exc:
            print("named:", exc)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "no prompt embeddings: the wordllama package is not installed" in done.stdout
    assert "unset: None" in done.stdout
    assert "named: MONITOR_EMBEDDER=wordllama needs the wordllama package" in done.stdout
    assert load_embedder(None).name == "wordllama:l2_supercat_256"
