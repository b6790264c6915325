"""Embedders that run offline on the CPU; nothing is ever downloaded at run time.

``MONITOR_EMBEDDER`` chooses one (docs/embeddings.md):

- ``wordllama`` (the default when the package is installed): WordLlama's ``l2_supercat`` 256-d token embeddings, whose 16 MB of
  weights and tokenizer ship inside the ``wordllama`` wheel (numpy + tokenizers, no torch). They are
  read from the installed package's files directly, so WordLlama's own loader (which may fetch a
  missing tokenizer from Hugging Face) is never called.
- ``sentence-transformers:<local directory>``: a sentence-transformers model already on disk,
  loaded with ``local_files_only`` and Hugging Face offline mode.
- ``none``: no embeddings (no embedding drift, topics or semantic similarity).
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from monitor.errors import ConfigError

__all__ = ["EMBEDDER_CHOICES", "WordLlamaEmbedder", "load_embedder"]

log = logging.getLogger("monitor.embeddings")
EMBEDDER_CHOICES = "wordllama, none, sentence-transformers:<local model directory>"
_EXTRA = "pip install 'llm-drift-monitor[embeddings]'"


class WordLlamaEmbedder:
    """WordLlama from the files shipped in its wheel; L2-normalised 256-d vectors.

    The package and its files are checked at construction (a worker with a missing embedder does
    not start); the 16 MB table is read at the first ``embed()``, so a worker that never sees a
    baseline with prompts never loads it.
    """

    name = "wordllama:l2_supercat_256"

    def __init__(self) -> None:
        missing = [m for m in ("wordllama", "tokenizers", "safetensors") if not _installed(m)]
        if missing:
            raise ConfigError(
                f"MONITOR_EMBEDDER=wordllama needs the wordllama package ({missing[0]} is missing): "
                f"{_EXTRA}, or set MONITOR_EMBEDDER to one of {EMBEDDER_CHOICES}"
            )
        spec = importlib.util.find_spec("wordllama")
        assert spec is not None and spec.origin is not None  # checked above
        root = Path(spec.origin).parent
        self._weights = root / "weights" / "l2_supercat_256.safetensors"
        self._tokenizer = root / "tokenizers" / "l2_supercat_tokenizer_config.json"
        for path in (self._weights, self._tokenizer):
            if not path.is_file():
                raise ConfigError(
                    f"the wordllama package has no {path.relative_to(root)}: reinstall it ({_EXTRA}) "
                    f"or set MONITOR_EMBEDDER to one of {EMBEDDER_CHOICES}"
                )
        self._model: Any = None

    def _load(self) -> Any:
        from safetensors import safe_open
        from tokenizers import Tokenizer
        from wordllama.inference import WordLlamaInference  # type: ignore[import-untyped]

        with safe_open(str(self._weights), framework="np", device="cpu") as f:
            table = f.get_tensor("embedding.weight")
        return WordLlamaInference(table, Tokenizer.from_file(str(self._tokenizer)), binary=False)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 256))
        if self._model is None:
            self._model = self._load()
        out: np.ndarray = self._model.embed(list(texts), norm=True, batch_size=256)
        return out


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a module set to None in sys.modules, a broken package
        return False


class SentenceTransformerEmbedder:
    """A sentence-transformers model from a local directory, never from the network."""

    def __init__(self, path: str) -> None:
        if not Path(path).is_dir():
            raise ConfigError(
                f"MONITOR_EMBEDDER=sentence-transformers:{path}: {path!r} is not a local directory "
                "holding the model (nothing is downloaded at run time)"
            )
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            raise ConfigError(
                "MONITOR_EMBEDDER=sentence-transformers:... needs the sentence-transformers package "
                f"(pip install sentence-transformers), or set MONITOR_EMBEDDER to one of {EMBEDDER_CHOICES}"
            ) from None
        self._model: Any = SentenceTransformer(path, device="cpu", local_files_only=True)
        self.name = f"sentence-transformers:{Path(path).name}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out: np.ndarray = np.asarray(
            self._model.encode(list(texts), batch_size=64, normalize_embeddings=True)
        )
        return out


def load_embedder(spec: str | None) -> WordLlamaEmbedder | SentenceTransformerEmbedder | None:
    """The embedder ``spec`` names (``None`` for ``none``); a ``ConfigError`` lists the choices.

    ``spec`` ``None`` (the setting left unset) is WordLlama when its package is installed, else no
    embedder and a warning; a named embedder that cannot load is an error.

    >>> load_embedder("none") is None
    True
    >>> load_embedder("bert")
    Traceback (most recent call last):
    ...
    monitor.errors.ConfigError: MONITOR_EMBEDDER='bert' is not one of wordllama, none, sentence-transformers:<local model directory>
    """
    if spec is None:
        if not _installed("wordllama"):
            log.warning(
                "no prompt embeddings: the wordllama package is not installed (%s, or set "
                "MONITOR_EMBEDDER=none to silence this)",
                _EXTRA,
            )
            return None
        return WordLlamaEmbedder()
    kind, _, arg = spec.strip().partition(":")
    if kind == "none" and not arg:
        return None
    if kind == "wordllama" and not arg:
        return WordLlamaEmbedder()
    if kind == "sentence-transformers" and arg:
        return SentenceTransformerEmbedder(arg)
    raise ConfigError(f"MONITOR_EMBEDDER={spec!r} is not one of {EMBEDDER_CHOICES}")
