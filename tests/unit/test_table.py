"""The routing table: default contents, routing, and validation errors that name the field."""

import pytest
import yaml

from core.errors import ConfigurationError
from routing.table import load_table, table_from_dict


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
        (lambda d: d["queues"]["chat.en"].update(profile="gpu"), "profile 'gpu' is not defined"),
        (lambda d: d.update(fallback_queue="chat.zz"), "fallback_queue 'chat.zz' is not in queues"),
        (lambda d: d["queues"]["chat.default"].update(languages=["en"]), "mapped to both"),
        (lambda d: d["profiles"]["default"].update(max_batch_size=0), "max_batch_size must be > 0"),
        (lambda d: d["profiles"]["default"].update(system_prompts={}), "needs a"),
        (lambda d: d.update(queues={"Bad Queue!": {}}), "bad queue name"),
        (lambda d: d.update(languages=["english"]), "languages"),
        (lambda d: d.update(deadlines={"web": 0}), r"deadlines.web must be seconds"),
        (lambda d: d.update(deadlines={"web": "soon"}), r"deadlines.web must be seconds"),
        (lambda d: d.update(deadlines=["web"]), "deadlines must be a mapping"),
    ],
)
def test_invalid_tables_are_refused_with_a_clear_error(mutate, message):
    data = minimal()
    mutate(data)
    with pytest.raises(ConfigurationError, match=message):
        table_from_dict(data)


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
