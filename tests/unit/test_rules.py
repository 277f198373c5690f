"""Language precedence rules: explicit > conversation (for short follow-ups) > detection > channel."""

from routing.rules import Detection, choose_language

SURE_ES = Detection("es", 0.99, reliable=True, words=8)
SHORT_EN = Detection("en", 0.9, reliable=True, words=1)
UNSURE = Detection("it", 0.4, reliable=False, words=1)
NOTHING = Detection(None, 0.0, reliable=False, words=0)


def choose(detection, explicit=None, conversation=None, channel="en"):
    return choose_language(
        detection, explicit=explicit, conversation_language=conversation, channel_default=channel
    )


def test_explicit_language_always_wins():
    assert choose(SURE_ES, explicit="fr", conversation="de").language == "fr"
    assert choose(SURE_ES, explicit="fr").source == "explicit"


def test_first_message_uses_a_reliable_detection():
    choice = choose(SURE_ES)
    assert (choice.language, choice.source) == ("es", "detected")


def test_first_message_falls_back_to_channel_default_when_unsure():
    assert choose(UNSURE, channel="sv").language == "sv"
    assert choose(NOTHING, channel="de").source == "channel"


def test_short_follow_up_keeps_the_conversation_language_even_if_detected_elsewhere():
    choice = choose(SHORT_EN, conversation="es")
    assert (choice.language, choice.source) == ("es", "conversation")
    assert choose(NOTHING, conversation="zh").language == "zh"


def test_long_clear_follow_up_in_another_language_switches():
    choice = choose(SURE_ES, conversation="en")
    assert (choice.language, choice.source) == ("es", "detected")


def test_a_users_locale_answers_a_first_message_that_does_not_say_its_language():
    # given a Telegram user who set Portuguese, and a first message too short to tell
    choice = choose_language(
        UNSURE, explicit=None, conversation_language=None, channel_default="en", user_locale="pt"
    )
    assert (choice.language, choice.source) == ("pt", "locale")
    # a clear message in another language still wins, and so does the conversation's language
    assert (
        choose_language(
            SURE_ES, explicit=None, conversation_language=None, channel_default="en", user_locale="pt"
        ).language
        == "es"
    )
    assert (
        choose_language(
            UNSURE, explicit=None, conversation_language="de", channel_default="en", user_locale="pt"
        ).language
        == "de"
    )
