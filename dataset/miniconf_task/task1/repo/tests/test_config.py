import pytest

from miniconf import Config, ConfigError, loads
from miniconf.errors import MissingKeyError


def make():
    return loads("[DEFAULT]\ncolor = blue\n[a]\nx = 1\n[b]\ncolor = red\n")


def test_defaults_are_inherited():
    config = make()
    assert config["a"]["color"] == "blue"
    assert config["b"]["color"] == "red"


def test_keys_list_own_then_defaults():
    config = make()
    assert config["a"].keys() == ["x", "color"]
    assert len(config["b"]) == 1


def test_missing_key_raises_keyerror():
    with pytest.raises(MissingKeyError):
        make()["a"]["nope"]
    with pytest.raises(KeyError):
        make()["a"]["nope"]


def test_fallback():
    assert make().get("a", "nope", fallback="z") == "z"


def test_contains():
    config = make()
    assert "x" in config["a"]
    assert "color" in config["a"]
    assert "a" in config
    assert "zzz" not in config


def test_set_requires_strings():
    config = Config()
    section = config.add_section("s")
    section["k"] = "v"
    assert section["k"] == "v"
    with pytest.raises(ConfigError):
        section["n"] = 3


def test_remove_key_and_section():
    config = make()
    config["a"].remove("x")
    assert "x" not in config["a"]
    config.remove_section("a")
    assert config.sections() == ["b"]
    with pytest.raises(ConfigError):
        config.remove_section("a")


def test_unknown_section():
    with pytest.raises(ConfigError):
        make()["zzz"]


def test_to_dict_merges_defaults():
    assert make().to_dict() == {"a": {"x": "1", "color": "blue"}, "b": {"color": "red"}}
