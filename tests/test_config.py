"""Tests of chainml.config: precedence of settings sources, secrets, the data directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from chainml.config import DEFAULT_DATA_DIR, Secret, Settings, ensure_directory, load_settings
from chainml.errors import DataDirectoryError, InvalidInputError

KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
PASSWORD = "correct horse battery staple"


def write_toml(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# ---------------------------------------------------------------------------------------------
# precedence


def test_defaults_without_env_or_file(tmp_path: Path) -> None:
    settings = load_settings(environ={}, config_file=tmp_path / "absent.toml")
    assert settings == Settings()
    assert settings.data_dir == DEFAULT_DATA_DIR
    assert settings.rpc is None
    assert settings.private_key is None
    assert settings.keystore is None
    assert settings.keystore_password is None
    assert settings.chain_id is None
    assert settings.durability == "normal"


def test_file_overrides_defaults(tmp_path: Path) -> None:
    config = write_toml(
        tmp_path / "chainml.toml",
        '[chainml]\ndata_dir = "from-file"\nrpc = "http://file:8545"\nchain_id = 5\n'
        'durability = "full"\nkeystore = "ks.json"\n',
    )
    settings = load_settings(environ={}, config_file=config)
    assert settings.data_dir == Path("from-file")
    assert settings.rpc == "http://file:8545"
    assert settings.chain_id == 5
    assert settings.durability == "full"
    assert settings.keystore == Path("ks.json")


def test_env_overrides_file(tmp_path: Path) -> None:
    config = write_toml(
        tmp_path / "chainml.toml",
        '[chainml]\ndata_dir = "from-file"\nrpc = "http://file:8545"\nchain_id = 5\n',
    )
    environ = {
        "CHAINML_DATA_DIR": "from-env",
        "CHAINML_CHAIN_ID": "31337",
        "CHAINML_DURABILITY": "full",
    }
    settings = load_settings(environ=environ, config_file=config)
    assert settings.data_dir == Path("from-env")
    assert settings.chain_id == 31337  # coerced from the string
    assert settings.durability == "full"
    assert settings.rpc == "http://file:8545"  # not in env: the file's value stays


def test_empty_env_value_does_not_override(tmp_path: Path) -> None:
    config = write_toml(tmp_path / "chainml.toml", 'rpc = "http://file:8545"\n')
    settings = load_settings(environ={"CHAINML_RPC": ""}, config_file=config)
    assert settings.rpc == "http://file:8545"


def test_unrelated_env_vars_are_ignored(tmp_path: Path) -> None:
    settings = load_settings(
        environ={"CHAINML_RPC": "http://env:8545", "HOME": "/nowhere", "RPC": "x"},
        config_file=tmp_path / "absent.toml",
    )
    assert settings.rpc == "http://env:8545"
    assert settings.data_dir == DEFAULT_DATA_DIR


def test_explicit_overrides_beat_env_and_file(tmp_path: Path) -> None:
    config = write_toml(tmp_path / "chainml.toml", 'data_dir = "from-file"\nchain_id = 5\n')
    settings = load_settings(
        environ={"CHAINML_DATA_DIR": "from-env", "CHAINML_RPC": "http://env:8545"},
        config_file=config,
    )
    final = settings.with_overrides(data_dir=Path("from-flag"), rpc=None, chain_id=7)
    assert final.data_dir == Path("from-flag")
    assert final.chain_id == 7
    assert final.rpc == "http://env:8545"  # a None override leaves the value alone
    assert settings.data_dir == Path("from-env")  # with_overrides returns a copy


def test_secrets_come_from_env_wrapped(tmp_path: Path) -> None:
    settings = load_settings(
        environ={"CHAINML_PRIVATE_KEY": KEY, "CHAINML_KEYSTORE_PASSWORD": PASSWORD},
        config_file=tmp_path / "absent.toml",
    )
    assert isinstance(settings.private_key, Secret)
    assert settings.private_key.reveal() == KEY
    assert isinstance(settings.keystore_password, Secret)
    assert settings.keystore_password.reveal() == PASSWORD


# ---------------------------------------------------------------------------------------------
# the config file


def test_top_level_form_is_accepted(tmp_path: Path) -> None:
    config = write_toml(tmp_path / "chainml.toml", 'rpc = "http://top:8545"\nchain_id = 9\n')
    settings = load_settings(environ={}, config_file=config)
    assert settings.rpc == "http://top:8545"
    assert settings.chain_id == 9


def test_chainml_section_form_is_accepted(tmp_path: Path) -> None:
    config = write_toml(tmp_path / "chainml.toml", '[chainml]\nrpc = "http://section:8545"\n')
    assert load_settings(environ={}, config_file=config).rpc == "http://section:8545"


def test_unknown_keys_are_rejected_by_name(tmp_path: Path) -> None:
    config = write_toml(tmp_path / "chainml.toml", '[chainml]\nrcp = "x"\ndata_dri = "y"\n')
    with pytest.raises(InvalidInputError) as info:
        load_settings(environ={}, config_file=config)
    assert "rcp" in str(info.value)
    assert "data_dri" in str(info.value)


def test_unknown_top_level_key_is_rejected(tmp_path: Path) -> None:
    config = write_toml(tmp_path / "chainml.toml", 'colour = "blue"\n')
    with pytest.raises(InvalidInputError, match="colour"):
        load_settings(environ={}, config_file=config)


@pytest.mark.parametrize("key", ["private_key", "keystore_password"])
@pytest.mark.parametrize("section", [True, False])
def test_secrets_in_the_file_are_rejected(tmp_path: Path, key: str, section: bool) -> None:
    body = f'{key} = "{KEY}"\n'
    config = write_toml(tmp_path / "chainml.toml", ("[chainml]\n" if section else "") + body)
    with pytest.raises(InvalidInputError) as info:
        load_settings(environ={}, config_file=config)
    assert "secrets do not belong" in str(info.value)
    assert KEY not in str(info.value)


def test_malformed_toml_is_invalid_input(tmp_path: Path) -> None:
    config = write_toml(tmp_path / "chainml.toml", "this is = = not toml\n")
    with pytest.raises(InvalidInputError, match="cannot read"):
        load_settings(environ={}, config_file=config)


def test_non_utf8_config_file_is_invalid_input(tmp_path: Path) -> None:
    config = tmp_path / "chainml.toml"
    config.write_bytes(b"rpc = '\xff\xfe'\n")
    with pytest.raises(InvalidInputError):
        load_settings(environ={}, config_file=config)


def test_non_table_chainml_section_is_rejected(tmp_path: Path) -> None:
    config = write_toml(tmp_path / "chainml.toml", 'chainml = "oops"\n')
    with pytest.raises(InvalidInputError, match=r"\[chainml\]"):
        load_settings(environ={}, config_file=config)


# ---------------------------------------------------------------------------------------------
# validation


@pytest.mark.parametrize("raw", ["abc", "1.5", "0x"])
def test_bad_chain_id_from_env_is_rejected(tmp_path: Path, raw: str) -> None:
    with pytest.raises(InvalidInputError, match="chain_id"):
        load_settings(environ={"CHAINML_CHAIN_ID": raw}, config_file=tmp_path / "absent.toml")


def test_bad_chain_id_from_file_is_rejected(tmp_path: Path) -> None:
    config = write_toml(tmp_path / "chainml.toml", "chain_id = [1, 2]\n")
    with pytest.raises(InvalidInputError, match="chain_id"):
        load_settings(environ={}, config_file=config)


@pytest.mark.parametrize("raw", ["fast", "FULL", "none"])
def test_bad_durability_is_rejected(tmp_path: Path, raw: str) -> None:
    with pytest.raises(InvalidInputError, match="durability") as info:
        load_settings(environ={"CHAINML_DURABILITY": raw}, config_file=tmp_path / "absent.toml")
    assert repr(raw) in str(info.value)


def test_invalid_input_error_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        load_settings(environ={"CHAINML_DURABILITY": "x"}, config_file=tmp_path / "absent.toml")


# ---------------------------------------------------------------------------------------------
# secrets never show


def test_secret_hides_its_value() -> None:
    secret = Secret(KEY)
    for shown in (repr(secret), str(secret), f"{secret}", f"{secret!r}", format(secret)):
        assert KEY not in shown
        assert KEY[2:] not in shown
        assert "****" in shown
    assert repr([secret]) == "[Secret('********')]"
    assert secret.reveal() == KEY


def test_secret_equality_and_hash() -> None:
    assert Secret("a") == Secret("a")
    assert Secret("a") != Secret("b")
    assert Secret("a") != "a"
    assert hash(Secret("a")) == hash(Secret("a"))


def test_settings_repr_hides_secrets() -> None:
    settings = Settings(
        rpc="http://node:8545",
        private_key=Secret(KEY),
        keystore=Path("ks.json"),
        keystore_password=Secret(PASSWORD),
    )
    for shown in (repr(settings), str(settings), f"{settings}"):
        assert KEY not in shown
        assert KEY[2:] not in shown
        assert PASSWORD not in shown
        assert "http://node:8545" in shown  # the repr is still useful


# ---------------------------------------------------------------------------------------------
# backend


def test_backend_is_embedded_without_rpc() -> None:
    assert Settings().backend == "embedded"
    assert Settings(rpc="").backend == "embedded"


def test_backend_is_rpc_with_a_url(tmp_path: Path) -> None:
    assert Settings(rpc="http://127.0.0.1:8545").backend == "rpc"
    settings = load_settings(
        environ={"CHAINML_RPC": "http://127.0.0.1:8545"}, config_file=tmp_path / "absent.toml"
    )
    assert settings.backend == "rpc"


# ---------------------------------------------------------------------------------------------
# ensure_directory


def test_ensure_directory_creates_inside_existing_parent(tmp_path: Path) -> None:
    target = tmp_path / "data"
    ensure_directory(target)
    assert target.is_dir()
    assert (target.stat().st_mode & 0o777) & ~0o700 == 0  # private to the user


def test_ensure_directory_accepts_an_existing_directory(tmp_path: Path) -> None:
    target = tmp_path / "data"
    target.mkdir()
    (target / "keep").write_text("x")
    ensure_directory(target)
    assert (target / "keep").read_text() == "x"


def test_ensure_directory_refuses_missing_parent(tmp_path: Path) -> None:
    target = tmp_path / "typo" / "data"
    with pytest.raises(DataDirectoryError) as info:
        ensure_directory(target)
    assert info.value.path == str(target)
    assert "does not exist" in str(info.value)
    assert not (tmp_path / "typo").exists()
    assert list(tmp_path.iterdir()) == []


def test_ensure_directory_refuses_a_file(tmp_path: Path) -> None:
    target = tmp_path / "data"
    target.write_text("not a directory")
    with pytest.raises(DataDirectoryError, match="not a directory"):
        ensure_directory(target)
    assert target.is_file()
    assert target.read_text() == "not a directory"
    assert [p.name for p in tmp_path.iterdir()] == ["data"]
