from miniconf import dump, dumps, load, loads

TEXT = "[DEFAULT]\nteam = core\n\n[db]\nhost = localhost\nport = 5432\n"


def test_round_trip():
    config = loads(TEXT)
    assert loads(dumps(config)).to_dict() == config.to_dict()


def test_exact_rendering():
    assert dumps(loads(TEXT)) == TEXT


def test_defaults_are_not_repeated_in_sections():
    assert dumps(loads(TEXT)).count("team") == 1


def test_custom_delimiter():
    assert "host: localhost" in dumps(loads(TEXT), delimiter=": ")


def test_dump_writes_a_file(tmp_path):
    path = tmp_path / "out.ini"
    dump(loads(TEXT), path)
    assert load(path).to_dict() == loads(TEXT).to_dict()
