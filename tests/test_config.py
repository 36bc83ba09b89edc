"""Configuration: one table, read from the environment, documented in the README."""

from pathlib import Path

import pytest

from webapp.config import SETTINGS, ConfigError, load

README = Path(__file__).resolve().parent.parent / "README.md"


def test_every_environment_setting_is_documented_in_the_readme():
    text = README.read_text()
    missing = [s.name for s in SETTINGS if s.env and f"`{s.name}`" not in text]
    assert not missing, f"document these in the README's configuration table: {missing}"


def test_environment_values_are_read_by_type(tmp_path):
    environ = {
        "SMTP_TIMEOUT": "2.5",
        "SMTP_ALLOW_LOOPBACK": "yes",
        "TRUSTED_PROXIES": "1",
        "BASE_URL": "https://bi.example.com/",
        "SMTP_HELO_NAME": "  ",
        "SECRET_KEY": "k" * 40,
    }
    config = load(str(tmp_path), environ=environ)
    assert config["SMTP_TIMEOUT"] == 2.5 and config["SMTP_ALLOW_LOOPBACK"] is True
    assert config["TRUSTED_PROXIES"] == 1 and config["BASE_URL"] == "https://bi.example.com"
    assert config["SMTP_HELO_NAME"] is None and config["SECRET_KEY"] == "k" * 40
    assert config["NOTIFIER_BATCH_SIZE"] == 50  # the default where nothing is set


def test_overrides_win_and_generate_no_secret(tmp_path):
    config = load(str(tmp_path), {"SECRET_KEY": "given", "SMTP_TIMEOUT": 3}, environ={})
    assert config["SECRET_KEY"] == "given" and config["SMTP_TIMEOUT"] == 3
    assert not (tmp_path / "secret_key").exists()
    assert (tmp_path / "settings_encryption_keys").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("name", "value"),
    [("SMTP_TIMEOUT", "ten"), ("SMTP_ALLOW_LOOPBACK", "maybe"), ("TRUSTED_PROXIES", "1.5")],
)
def test_a_bad_value_names_the_variable(tmp_path, name, value):
    with pytest.raises(ConfigError, match=f"{name}='{value}' cannot be used"):
        load(str(tmp_path), environ={name: value})


def test_the_audit_key_is_generated_once_and_a_short_one_refused(tmp_path):
    first = load(str(tmp_path), environ={})["AUDIT_HMAC_KEY"]
    assert (tmp_path / "audit_hmac_key").stat().st_mode & 0o777 == 0o600
    assert len(first) >= 32 and load(str(tmp_path), environ={})["AUDIT_HMAC_KEY"] == first
    with pytest.raises(ConfigError, match=r"AUDIT_HMAC_KEY=\(hidden\) cannot be used: expected at"):
        load(str(tmp_path), environ={"AUDIT_HMAC_KEY": "short-key"})
