"""The routing table: default contents, routing, and validation errors that name the field."""

import pytest
import yaml

from core.errors import ConfigurationError
from routing.replies import unanswered_notices
from routing.table import load_table, read_table_data, table_from_dict


def test_default_table_routes_zh_en_es_and_everything_else_to_default():
    table = load_table()
    assert table.route("zh").queue == "chat.zh"
    assert table.route("en").queue == "chat.en"
    assert table.route("es").queue == "chat.es"
    assert table.route("sv").queue == "chat.default"
    assert table.route("xh").queue == "chat.default"  # unsupported, never unroutable
    assert len(table.languages) >= 30
    assert table.channel_default("web") == "en"


def test_system_prompt_names_the_language_when_none_is_written_for_it():
    profile = load_table().profiles["default"]
    assert "Swedish" in profile.system_prompt("sv")
    assert "Chinese" in profile.system_prompt("zh")
    assert "español" in profile.system_prompt("es")


def test_describe_lists_every_language_with_its_queue():
    view = load_table().describe()
    assert view["languages"]["es"] == "chat.es"
    assert view["languages"]["fr"] == "chat.default"


def minimal() -> dict:
    return yaml.safe_load(
        """
        languages: [en, fr]
        queues: {chat.en: {languages: [en]}, chat.default: {}}
        profiles: {default: {system_prompts: {"*": "hi"}}}
        """
    )


def test_minimal_table_is_valid():
    assert table_from_dict(minimal()).route("fr").queue == "chat.default"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda d: d["queues"]["chat.en"].update(profile="gpu"),
            r"queues.chat.en.profile: 'gpu' is not one of",
        ),
        (lambda d: d.update(fallback_queue="chat.zz"), "fallback_queue: 'chat.zz' is not in queues"),
        (lambda d: d["queues"]["chat.default"].update(languages=["en"]), "'en' is mapped to chat.en too"),
        (
            lambda d: d["profiles"]["default"].update(max_batch_size=0),
            "max_batch_size: Input should be greater",
        ),
        (lambda d: d["profiles"]["default"].update(system_prompts={}), 'needs a "\\*" entry'),
        (lambda d: d.update(queues={"Bad Queue!": {}}), "bad queue name"),
        (lambda d: d.update(languages=["english"]), "languages.0: not a language code"),
        (lambda d: d.update(languages=["zz"]), "languages.0: unknown language code 'zz'"),
        (
            lambda d: d.update(languages=[False]),
            "languages.0: Input should be a valid string",
        ),  # `no` unquoted
        (lambda d: d.update(deadlines={"web": 0}), r"deadlines.web: Input should be greater than 0"),
        (lambda d: d.update(deadlines={"web": "soon"}), r"deadlines.web: Input should be a valid number"),
        (lambda d: d.update(deadlines=["web"]), "deadlines: Input should be a valid dictionary"),
        (
            lambda d: d["profiles"]["default"].update(max_batch_size=2.5),
            "max_batch_size: Input should be a valid integer",
        ),
        (
            lambda d: d["profiles"]["default"].update(dtype="float17"),
            "profiles.default.dtype: Input should be",
        ),
        (lambda d: d["profiles"]["default"].update(engine="tgi"), "profiles.default.engine: Input should be"),
        (lambda d: d.update(profiles={}), "profiles: Dictionary should have at least 1 item"),
    ],
)
def test_invalid_tables_are_refused_with_a_clear_error(mutate, message):
    data = minimal()
    mutate(data)
    with pytest.raises(ConfigurationError, match=message):
        table_from_dict(data)


def test_a_misspelt_key_is_refused_with_its_path_and_the_key_it_is_closest_to():
    """Given the shipped table with `max_batch_size` misspelt and a misspelt top-level key, expect
    both named at their paths, with the key each is closest to, in one error."""
    data = read_table_data()
    data["profiles"]["default"]["max_batchsize"] = data["profiles"]["default"].pop("max_batch_size")
    data["fallback_queu"] = "chat.default"
    with pytest.raises(ConfigurationError) as refused:
        table_from_dict(data)
    assert str(refused.value).splitlines() == [
        "routing table: 2 problems:",
        "  fallback_queu: unknown field; did you mean fallback_queue?",
        "  profiles.default.max_batchsize: unknown field; did you mean max_batch_size?",
    ]


def test_every_broken_reference_is_named_at_once():
    data = minimal()
    data["queues"]["chat.en"]["profile"] = "gpu"
    data["fallback_queue"] = "chat.zz"
    data["unanswered"] = {"action": "human", "human_queue": "chat.en"}
    message = str(_refusal(data))
    assert "queues.chat.en.profile" in message and "fallback_queue" in message
    assert "unanswered.human_queue: 'chat.en' must be neither a chat queue" in message


def test_a_key_written_without_a_value_takes_its_default():
    data = minimal()
    data.update(deadlines=None, channels=None)
    data["queues"]["chat.default"] = {"languages": None}
    data["profiles"]["default"]["model"] = None
    table = table_from_dict(data)
    assert (table.deadline_s("web"), table.channel_default("web"), table.profiles["default"].model) == (
        None,
        "en",
        "",
    )


def test_the_shipped_table_and_notices_are_valid():
    assert load_table().profiles["default"].max_batch_size == 32  # the file's, not a default
    assert unanswered_notices()["es"]


def _refusal(data: dict) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as refused:
        table_from_dict(data)
    return refused.value


def test_unreadable_file_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigurationError, match="cannot read routing table"):
        load_table(tmp_path / "missing.yaml")


def test_queues_of_a_profile_for_worker_profile_option():
    table = load_table()
    assert set(table.queues_of_profile("default")) == set(table.queue_names)
    assert table.queues_of_profile("") == []
    with pytest.raises(ConfigurationError, match="unknown profile 'gpu-big'"):
        table.queues_of_profile("gpu-big")


def test_a_channels_deadline_falls_back_to_the_tables_default_then_to_none():
    data = minimal()
    assert table_from_dict(data).deadline_s("web") is None  # no deadlines: the setting decides
    data["deadlines"] = {"email": 86400, "*": 600}
    table = table_from_dict(data)
    assert (table.deadline_s("email"), table.deadline_s("web")) == (86400.0, 600.0)


def test_routes_check_reports_every_problem_and_exits_2(tmp_path):
    from typer.testing import CliRunner

    from ops.cli import app

    shipped = read_table_data()
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(shipped), encoding="utf-8")
    shipped["profiles"]["default"]["max_batchsize"] = 64
    shipped["profiles"]["default"]["max_wait_ms"] = "soon"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(shipped), encoding="utf-8")
    refused = CliRunner().invoke(app, ["routes", "check", str(bad)])
    assert refused.exit_code == 2
    assert "profiles.default.max_batchsize: unknown field; did you mean max_batch_size?" in refused.output
    assert "profiles.default.max_wait_ms: Input should be a valid number" in refused.output
    accepted = CliRunner().invoke(app, ["routes", "check", str(good)])
    assert accepted.exit_code == 0 and "ok: " in accepted.output
