"""A settings file (TOML, or YAML for ``.yaml``/``.yml``) read into the mapping of settings it
declares: its ``monitor`` section, else its top level (:func:`read_config_file`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from monitor.errors import ConfigError

__all__ = ["read_config_file"]


def read_config_file(file: Path) -> dict[str, Any]:
    import tomllib

    import yaml

    text = file.read_text()
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
