"""A settings file (TOML, or YAML for ``.yaml``/``.yml``) read into the mapping of settings it
declares: its ``monitor`` section, else its top level (:func:`read_config_file`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from monitor.errors import ConfigError

__all__ = ["read_config_file"]


def read_config_file(file: Path) -> dict[str, Any]:
    """The settings ``file`` declares; a one-line error naming the file when it cannot be read.

    >>> read_config_file(Path("/"))
    Traceback (most recent call last):
    ...
    monitor.errors.ConfigError: /: cannot be read as a settings file (Is a directory)
    """
    import tomllib

    import yaml

    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:  # a directory, no permission
        raise ConfigError(f"{file}: cannot be read as a settings file ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{file}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at position {exc.start})"
        ) from None
    try:
        values = (
            (yaml.safe_load(text) or {})
            if file.suffix in (".yaml", ".yml")
            else tomllib.loads(text)
        )
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            f"{file}: not valid {'YAML' if file.suffix in ('.yaml', '.yml') else 'TOML'}: {exc}"
        ) from None
    if not isinstance(values, dict):
        raise ConfigError(f"{file}: expected a mapping of settings, got {type(values).__name__}")
    section = values.get("monitor", values)
    if not isinstance(section, dict):
        raise ConfigError(f"{file}: 'monitor' must be a mapping of settings")
    return section
