"""Settings: defaults, then a TOML file, then `BASTION_*` environment variables, then flags.

One frozen `Settings` object is built at start-up and passed down; nothing reads the
environment after that.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

DEFAULT_ACCOUNT_ID = "000000000000"


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "bastion"


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 4566
    data_dir: Path = field(default_factory=default_data_dir)
    database_url: str = ""
    log_level: str = "info"
    dev: bool = False
    account_id: str = ""  # empty: the account made at init, else DEFAULT_ACCOUNT_ID
    region: str = "us-east-1"
    max_body_bytes: int = 8 * 1024 * 1024
    root_passphrase: str = field(default="", repr=False)
    audit_flush_interval: float = 0.05
    workers: int = 1  # control-plane processes sharing the port

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'bastion.db'}"

    @property
    def credentials_file(self) -> Path:
        return self.data_dir / "credentials"

    @property
    def root_key_file(self) -> Path:
        return self.data_dir / "root.key"

    @property
    def audit_dir(self) -> Path:
        return self.data_dir / "audit"

    @property
    def changes_file(self) -> Path:
        """The workers' shared "storage changed" counters (see storage.changes)."""
        return self.data_dir / "run" / "changes"


MAX_WORKERS = 32

_ENV = {
    "host": "BASTION_HOST",
    "port": "BASTION_PORT",
    "data_dir": "BASTION_DATA_DIR",
    "database_url": "BASTION_DATABASE_URL",
    "log_level": "BASTION_LOG_LEVEL",
    "dev": "BASTION_DEV",
    "account_id": "BASTION_ACCOUNT_ID",
    "region": "BASTION_REGION",
    "max_body_bytes": "BASTION_MAX_BODY_BYTES",
    "root_passphrase": "BASTION_ROOT_PASSPHRASE",
    "workers": "BASTION_WORKERS",
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _coerce(name: str, value: Any) -> Any:
    kind = {f.name: f.type for f in fields(Settings)}[name]
    if kind in ("int", int):
        return int(value)
    if kind in ("float", float):
        return float(value)
    if kind in ("bool", bool):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError(f"{name}: expected a boolean, got {value!r}")
    if kind in ("Path", Path):
        return Path(value).expanduser()
    return str(value)


def load_settings(
    overrides: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Merge defaults, the TOML file (`BASTION_CONFIG` or `config_file`), env and flags."""
    env = dict(os.environ) if env is None else env
    values: dict[str, Any] = {}
    path = config_file or (Path(env["BASTION_CONFIG"]) if env.get("BASTION_CONFIG") else None)
    if path is not None:
        with open(path, "rb") as fh:
            document = tomllib.load(fh)
        section = document.get("bastion", document)
        for key, value in section.items():
            key = key.replace("-", "_")
            if key in _ENV or key in {"audit_flush_interval"}:
                values[key] = _coerce(key, value)
    for key, var in _ENV.items():
        if var in env:
            values[key] = _coerce(key, env[var])
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = _coerce(key, value)
    settings = replace(Settings(), **values)
    if settings.account_id and (
        not settings.account_id.isdigit() or len(settings.account_id) != 12
    ):
        raise ValueError("account_id must be 12 digits")
    if not 1 <= settings.workers <= MAX_WORKERS:
        raise ValueError(f"workers must be between 1 and {MAX_WORKERS}")
    return settings
