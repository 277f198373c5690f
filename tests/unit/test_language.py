"""Language codes and detection of chat messages: noise, scripts, short words, close languages."""

import time

import pytest

from core.errors import InvalidLanguage
from routing.language import (
    DETECTABLE_LANGUAGES,
    NOT_DETECTED,
    SCRIPT_ONLY,
    LanguageDetector,
    build_lexicon,
    normalize_language_code,
    strip_noise,
    tokenize,
)
from routing.lexicon import CLOSE_LANGUAGES, SIBLING_WORDS


def detected(detector, text):
    detection = detector.detect(text)
    return detection.language, detection.reliable


# -- language codes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("pt-BR", "pt"),
        ("pt_br", "pt"),
        ("zh-Hant-TW", "zh"),
        ("ZH", "zh"),
        ("en", "en"),
        (" de ", "de"),
        ("nb", "no"),
        ("nn", "no"),
        ("nb-NO", "no"),
        ("iw", "he"),
        ("in", "id"),
        ("ji", "yi"),
        ("fil", "tl"),
        ("zsm", "ms"),
        ("cmn", "zh"),
        ("yue", "zh"),
        ("cmn-Hans-CN", "zh"),
        ("arb", "ar"),
        ("arz", "ar"),
        ("sr-Latn", "sr"),
        ("eng", "en"),
        ("deu", "de"),
        ("fra", "fr"),
        ("pes", "fa"),
        ("ces", "cs"),
        ("xh", "xh"),
        ("XH-ZA", "xh"),
        ("und", "und"),
    ],
)
def test_language_codes_fold_to_iso_639_1(code, expected):
    assert normalize_language_code(code) == expected


@pytest.mark.parametrize(
    "code", ["", "   ", "english", "12", "e", "en-", "pt--BR", "en us", "e1", "🇬🇧", "en-toolongsubtag"]
)
def test_malformed_language_codes_are_refused_with_a_clear_message(code):
    with pytest.raises(InvalidLanguage, match="not a language code"):
        normalize_language_code(code)


def test_non_string_code_is_refused():
    with pytest.raises(InvalidLanguage):
        normalize_language_code(None)  # type: ignore[arg-type]


def test_detector_refuses_a_malformed_supported_language():
    with pytest.raises(InvalidLanguage):
        LanguageDetector(supported=["en", "english"])


def test_the_detector_knows_every_language_of_its_model_but_the_few_left_out_on_purpose():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    labels = LanguageIdentifier.from_model_file(MODEL_FILE).labels
    folded = {normalize_language_code(label) for label in labels}
    expected = {code for code in folded if len(code) == 2} - NOT_DETECTED | SCRIPT_ONLY
    assert set(DETECTABLE_LANGUAGES) == expected
    assert len(DETECTABLE_LANGUAGES) == len(set(DETECTABLE_LANGUAGES)) >= 97
    assert all(normalize_language_code(c) == c for c in DETECTABLE_LANGUAGES)


# -- noise ------------------------------------------------------------------------------------


def test_noise_is_stripped_before_detection():
    # given a message full of links, addresses, handles, tags and order numbers
    text = "see https://shop.example.com/o/1 or www.example.org, mail a.b@example.com @anna #sale A-5521 x2"
    # when it is de-noised and split into words
    words = [t.text for t in tokenize(strip_noise(text))]
    # expect only the real words to remain
    assert words == ["see", "or", "mail"]


@pytest.mark.parametrize(
    "text", ["#12345", "12345678", "ORD-99812", "https://track.example.com/ABC123", "👍🙏", "?!", "", "   "]
)
def test_messages_without_words_have_no_language(detector, text):
    detection = detector.detect(text)
    assert detection.language is None
    assert (detection.reliable, detection.words) == (False, 0)


@pytest.mark.parametrize("text", ["ok", "OK", "hello", "okay 👍", "ok ok"])
def test_words_every_language_uses_have_no_language(detector, text):
    detection = detector.detect(text)
    assert detection.language is None
    assert not detection.reliable


def test_digits_next_to_chinese_do_not_take_the_chinese_words_with_them(detector):
    assert detected(detector, "我的订单12345还没到") == ("zh", True)


def test_order_number_does_not_change_the_language(detector):
    assert detected(detector, "Mi pedido #A-77812 todavía no ha llegado") == ("es", True)


# -- scripts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("안녕하세요, 주문이 아직 안 왔어요", "ko"),
        ("注文した商品がまだ届いていません", "ja"),
        ("了解です", "ja"),
        ("我的订单还没到", "zh"),
        ("我上週訂的商品還沒送到", "zh"),
        ("สวัสดีครับ ยังไม่ได้รับของเลย", "th"),
        ("ההזמנה שלי עדיין לא הגיעה", "he"),
        ("Η παραγγελία μου δεν έχει έρθει ακόμα", "el"),
        ("मेरा ऑर्डर अभी तक नहीं आया", "hi"),
        ("طلبي لم يصل بعد", "ar"),
        ("سفارش من هنوز نرسیده", "fa"),
        ("Мой заказ ещё не пришёл", "ru"),
        ("Моє замовлення ще не прийшло", "uk"),
    ],
)
def test_the_script_decides_or_narrows_the_language(detector, text, language):
    assert detected(detector, text) == (language, True)


def test_words_count_two_characters_as_a_word_in_unspaced_scripts(detector):
    assert detector.detect("我的订单").words == 2
    assert detector.detect("Where is my order").words == 4


def test_a_script_with_no_supported_language_gives_no_language():
    # given a detector for Latin-script languages only, when it reads Russian
    detection = LanguageDetector(supported=["en", "es"]).detect("Мой заказ ещё не пришёл")
    # expect no language rather than a wrong one
    assert detection.language is None


def test_detection_stays_within_the_supported_languages():
    detection = LanguageDetector(supported=["en", "es"]).detect("Meu pedido ainda não chegou")
    assert detection.language in {"en", "es"}


def test_detection_fields_are_in_range(detector):
    detection = detector.detect("Hola, ¿dónde está mi pedido?")
    assert 0.0 <= detection.confidence <= 1.0
    assert detection.words == 5


# -- short messages ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("thx", "en"),
        ("ty", "en"),
        ("pls", "en"),
        ("invoice?", "en"),
        ("refund", "en"),
        ("THX", "en"),
        ("gracias", "es"),
        ("claro", "es"),
        ("vale", "es"),
        ("GRACIAS!!!", "es"),
        ("obrigado", "pt"),
        ("valeu", "pt"),
        ("merci", "fr"),
        ("danke", "de"),
        ("bitte", "de"),
        ("grazie", "it"),
        ("dank je", "nl"),
        ("bedankt", "nl"),
        ("tack", "sv"),
        ("takk", "no"),
        ("mange tak", "da"),
        ("kiitos", "fi"),
        ("dzięki", "pl"),
        ("dziekuje", "pl"),
        ("děkuji", "cs"),
        ("teşekkürler", "tr"),
        ("спасибо", "ru"),
        ("дякую", "uk"),
        ("cảm ơn", "vi"),
        ("makasih", "id"),
        ("شكرا", "ar"),
        ("ممنون", "fa"),
        ("ευχαριστώ", "el"),
        ("köszönöm", "hu"),
        ("mulțumesc", "ro"),
        ("multumesc", "ro"),
    ],
)
def test_common_short_chat_words_are_known(detector, text, language):
    assert detected(detector, text) == (language, True)


@pytest.mark.parametrize("text", ["tak", "hej", "terima kasih", "si", "ja", "no", "nu"])
def test_short_words_of_several_languages_are_unreliable(detector, text):
    assert not detector.detect(text).reliable


def test_a_short_message_whose_words_two_languages_share_is_unreliable(detector):
    # given "ja tak": both words are Danish and Polish, so the lexicon ties the two
    detection = detector.detect("ja tak")
    # when the model breaks the tie on two words, expect no reliable pick between them
    assert detection.language in {"da", "pl"}
    assert not detection.reliable


def test_marker_letters_resolve_an_ambiguous_short_word(detector):
    # "tak" is Polish yes and Danish thanks; the words around it settle it
    assert detected(detector, "tak, dziękuję") == ("pl", True)
    assert detected(detector, "tak for hjælpen") == ("da", True)


# -- close languages --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Jag har inte fått mitt paket än", "sv"),
        ("Jeg har ikke modtaget min pakke endnu", "da"),
        ("Jeg har ikke fått pakken min ennå", "no"),
        ("Eg har ikkje fått pakken, kva skjer?", "no"),
        ("Hvad gør jeg nu med pakken?", "da"),
        ("Hva gjør jeg nå med pakken?", "no"),
        ("Мой заказ до сих пор не пришёл", "ru"),
        ("Моє замовлення досі не прийшло", "uk"),
        ("Mi pedido todavía no ha llegado", "es"),
        ("Meu pedido ainda não chegou", "pt"),
        ("Saya mau tanya, uangnya kapan dikembalikan?", "id"),
        ("Saya nak tanya, bila wang saya akan dipulangkan?", "ms"),
        ("Barangnya nggak bisa dipakai", "id"),
        ("Mijn pakket is nog niet aangekomen", "nl"),
        ("Mein Paket ist noch nicht angekommen", "de"),
        ("Moje objednávka ještě nedorazila", "cs"),
        ("Moje zamówienie jeszcze nie dotarło", "pl"),
    ],
)
def test_close_languages_are_told_apart(detector, text, language):
    assert detected(detector, text) == (language, True)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        # the same message, apart from the words that tell the siblings apart
        ("forkert størrelse på jakken", "da"),
        ("fel storlek på jackan", "sv"),
        ("feil størrelse på jakken", "no"),
        ("jeg fik forkert vare", "da"),
        ("jag fick fel vara", "sv"),
        ("måske i morgen", "da"),
        ("kanske i morgon", "sv"),
        ("jeg kan ikke logge ind", "da"),
        ("jeg kan ikke logge inn", "no"),
    ],
)
def test_scandinavian_siblings_are_told_apart_by_their_own_words(detector, text, language):
    assert detected(detector, text) == (language, True)


def test_sibling_words_tell_their_language_from_at_least_one_sibling():
    # a "distinguishing" word every sibling also has would cancel out and distinguish nothing
    lexicon = build_lexicon(DETECTABLE_LANGUAGES)
    for language, words in SIBLING_WORDS.items():
        for group in (g for g in CLOSE_LANGUAGES if language in g):
            siblings = group & set(DETECTABLE_LANGUAGES) - {language}
            shared = sorted(w for w in words if siblings and siblings <= lexicon.get(w, frozenset()))
            assert shared == [], (language, shared)


def test_norwegian_is_not_counted_twice_for_its_two_model_labels():
    # given a model that splits Norwegian between its labels "no" and "nn"
    class SplitModel:
        def rank(self, text):
            return [("sv", 0.4), ("no", 0.3), ("nn", 0.3)]

    detector = LanguageDetector(supported=["sv", "no"])
    detector._model, detector._labels = SplitModel(), {"sv": "sv", "no": "no", "nn": "no"}
    # when its probabilities are read, expect Norwegian's best label, not the two summed
    probs, _ = detector._lid_probabilities("whatever", ("sv", "no"))
    assert probs["sv"] > probs["no"]


def test_a_message_valid_in_two_close_languages_is_not_reliable(detector):
    # Danish and Norwegian both say this; a follow-up must not switch on it
    detection = detector.detect("Okay, så venter jeg bare på mailen")
    assert detection.language in {"da", "no"}
    assert not detection.reliable


# -- product names and code-mixing ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("mi iPhone no carga", "es"),
        ("Where is my Zapatos Deluxe order?", "en"),
        ("Mein AirPods Pro Case lädt nicht mehr", "de"),
        ("Il mio Galaxy Buds non si collega", "it"),
        ("Мой MacBook Air не включается", "ru"),
        ("iPhoneが充電できません", "ja"),
        ("Where is my DHL parcel", "en"),
    ],
)
def test_brand_names_do_not_flip_the_language(detector, text, language):
    assert detected(detector, text) == (language, True)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("hola, my order no llegó", "es"),
        ("can you help me por favor, mi pedido no llega", "es"),
        ("saya mau refund, barangnya rusak", "id"),
        ("gracias, thank you so much for the help", "en"),
    ],
)
def test_code_mixed_messages_go_to_the_dominant_language(detector, text, language):
    assert detected(detector, text) == (language, True)


def test_english_loanwords_alone_are_english(detector):
    assert detected(detector, "refund?") == ("en", True)


# -- romanized Hindi --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["bhai mera order kab aayega", "mera paisa kab wapas aayega", "order abhi tak nahi aaya"]
)
def test_hinglish_is_hindi_on_its_lexicon_words(detector, text):
    assert detected(detector, text) == ("hi", True)


def test_latin_text_is_never_hindi_without_hinglish_words():
    # given a detector where Hindi's only Latin-script rival is English, and Swahili text the
    # model can read as neither; when detected, expect the model alone not to pick Hindi
    detection = LanguageDetector(supported=["hi", "en"]).detect("Habari yako rafiki, asante sana")
    assert detection.language != "hi"


def test_a_hinglish_word_another_language_shares_does_not_make_a_message_hindi(detector):
    # "hai" is Hinglish "is" and Indonesian/Malay "hi": it must not make a message Hindi
    assert detected(detector, "hai kak, pesanan saya belum sampai") == ("id", True)
    assert not detector.detect("hai").reliable


# -- languages we do not support --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Habari, oda yangu bado haijafika, naomba msaada", "sw"),
        ("Kumusta, hindi pa dumarating ang order ko", "tl"),
        ("Dobrý deň, moja objednávka ešte neprišla", "sk"),
    ],
)
def test_text_in_a_language_no_queue_serves_is_detected_with_its_own_tag(detector, text, language):
    assert detected(detector, text) == (language, True)


# -- speed ------------------------------------------------------------------------------------


def test_detection_is_fast_once_the_model_is_loaded(detector):
    messages = ["mi iPhone no carga", "Jeg har ikke fått pakken min ennå", "谢谢", "ok", "#123"] * 100
    start = time.perf_counter()
    for message in messages:
        detector.detect(message)
    per_message = (time.perf_counter() - start) / len(messages)
    assert per_message < 0.002  # typically ~0.05 ms; the bound only catches gross regressions


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("ჩემი order სად არის? tracking", "ka"),  # Georgian around English commerce words
        ("refund መቼ ነው?", "am"),
        ("ধন্যবাদ", "bn"),  # one word: the script decides
        ("ଧନ୍ୟବାଦ", "or"),
        ("ཐུགས་རྗེ་ཆེ།", "bo"),
        ("ধন্যবাদ, অৰ্ডাৰ", "as"),  # an Assamese ৰ makes Bengali script Assamese
    ],
)
def test_a_script_one_language_owns_decides_and_loanwords_do_not_change_it(detector, text, language):
    assert detected(detector, text) == (language, True)


@pytest.mark.parametrize(
    ("text", "language", "reliable"),
    [
        ("hvor er pakken min?", "no", True),  # a possessive after its noun is Norwegian
        ("Kde je môj balík?", "sk", True),
        ("Gde je moj paket?", "sr", True),  # ekavian
        ("Šta je sa mojom narudžbom, gdje je?", "bs", True),  # šta: not Croatian; gdje: not Serbian
        ("Дзе мая пасылка?", "be", True),
        ("Onde está a miña encomenda?", "gl", True),
        ("धन्यवाद", "hi", True),  # Devanagari with nothing that tells: Hindi
        ("मेरो अर्डर कहिले आउँछ?", "ne", True),
        ("Hvar er pakkinn minn?", "is", True),  # "er" is Icelandic too: the model decides
    ],
)
def test_close_languages_are_told_apart_by_a_word_in_short_questions(detector, text, language, reliable):
    assert detected(detector, text) == (language, reliable)


def test_a_short_question_nothing_tells_apart_is_left_to_the_conversation(detector):
    assert not detector.detect("hvor er min pakke?").reliable  # Danish and Norwegian alike


def test_romanized_hindi_is_not_outvoted_by_a_language_the_lexicon_does_not_know(detector):
    assert detected(detector, "mujhe refund chahiye kab milega bhai") == ("hi", True)
