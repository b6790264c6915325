"""A settings file (TOML, or YAML for ``.yaml``/``.yml``) read into the mapping of settings it
declares: its ``monitor`` section, else its top level (:func:`read_config_file`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from monitor.errors import ConfigError
from monitor.yaml_text import load_yaml

__all__ = ["read_config_file"]


def read_config_file(file: Path) -> dict[str, Any]:
    """The settings ``file`` declares; a one-line error naming the file when it cannot be read.

    >>> read_config_file(Path("/"))
    Traceback (most recent call last):
    ...
    monitor.errors.ConfigError: /: cannot be read as a settings file (Is a directory)
    """
    import tomllib

    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:  # a directory, no permission
        raise ConfigError(f"{file}: cannot be read as a settings file ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{file}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at position {exc.start})"
        ) from None
    if file.suffix in (".yaml", ".yml"):
        values = load_yaml(text, str(file)) or {}
    else:
        try:
            values = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{file}: expected a mapping of settings, got {type(values).__name__}")
    section = values.get("monitor", values)
    if not isinstance(section, dict):
        raise ConfigError(f"{file}: 'monitor' must be a mapping of settings")
    return section
