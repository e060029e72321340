"""Settings: defaults, TOML file, BASTION_* variables and flags, in that order."""

from __future__ import annotations

from pathlib import Path

import pytest

from bastion.config import load_settings


def test_zero_config_defaults():
    s = load_settings(env={})
    assert (s.host, s.port, s.dev, s.account_id) == ("127.0.0.1", 4566, False, "")
    assert s.effective_database_url.startswith("sqlite:///")


def test_environment_names():
    s = load_settings(
        env={
            "BASTION_HOST": "0.0.0.0",
            "BASTION_PORT": "5000",
            "BASTION_DATA_DIR": "/tmp/x",
            "BASTION_DATABASE_URL": "postgresql://u@h/db",
            "BASTION_LOG_LEVEL": "debug",
            "BASTION_DEV": "1",
            "BASTION_ACCOUNT_ID": "123456789012",
        }
    )
    assert (s.host, s.port, s.data_dir, s.log_level, s.dev) == (
        "0.0.0.0",
        5000,
        Path("/tmp/x"),
        "debug",
        True,
    )
    assert s.effective_database_url == "postgresql://u@h/db"
    assert s.account_id == "123456789012"


def test_precedence_file_env_flags(tmp_path):
    config = tmp_path / "bastion.toml"
    config.write_text('[bastion]\nport = 7000\nhost = "10.0.0.1"\nlog-level = "warning"\n')
    s = load_settings({"port": 9000}, env={"BASTION_CONFIG": str(config), "BASTION_HOST": "::1"})
    assert (s.port, s.host, s.log_level) == (9000, "::1", "warning")


def test_bad_values_are_refused():
    with pytest.raises(ValueError):
        load_settings(env={"BASTION_ACCOUNT_ID": "12"})
    with pytest.raises(ValueError):
        load_settings(env={"BASTION_DEV": "maybe"})


def test_passphrase_is_not_in_repr():
    s = load_settings(env={"BASTION_ROOT_PASSPHRASE": "hunter2-secret"})
    assert "hunter2-secret" not in repr(s)
