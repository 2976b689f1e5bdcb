"""Language detection for the app: codes in the competition's spelling, None without letters, one shared detector."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from contradiction.languages import (
    COMPETITION_LANGUAGES,
    LanguageDetector,
    get_detector,
    language_name,
    normalise_code,
)

# sentences written for these tests
SENTENCES = {
    "en": "The children walked down to the river after lunch to look for frogs.",
    "fr": "Nous avons mangé du pain frais avec du fromage ce matin.",
    "th": "วันนี้อากาศดีมาก ฉันจึงไปเดินเล่นที่สวนสาธารณะกับเพื่อน",
    "zh": "我们明天早上要去图书馆借几本关于历史的书。",
    "ar": "ذهبت أختي إلى السوق صباح اليوم لشراء الخبز والحليب.",
    "hi": "मैं हर सुबह अपने दोस्तों के साथ पार्क में टहलने जाता हूँ।",
    "sw": "Watoto wanacheza mpira uwanjani baada ya kutoka shuleni.",
    "ur": "میں ہر روز صبح سویرے اٹھ کر چائے پیتا ہوں اور اخبار پڑھتا ہوں۔",
    "ru": "Мы поехали на дачу в субботу и собирали там грибы.",
    "it": "Domani andiamo al mare con tutta la famiglia.",  # not a competition language
}
TRADITIONAL_CHINESE = "我們明天早上要去圖書館借幾本關於歷史的書。"
NO_LETTERS = ["1234 !!", "", "   \n", "42 + 7 = 49 :-)"]


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    return get_detector()


@pytest.mark.parametrize("code", list(SENTENCES))
def test_detects_the_language_of_a_sentence(detector, code):
    assert detector.detect(SENTENCES[code]) == code


def test_chinese_is_zh_in_either_script(detector):
    assert detector.detect(SENTENCES["zh"]) == "zh"
    assert detector.detect(TRADITIONAL_CHINESE) == "zh"


def test_a_language_outside_the_competition_is_named(detector):
    code = detector.detect(SENTENCES["it"])
    assert code not in COMPETITION_LANGUAGES
    assert language_name(code) == "Italian"


@pytest.mark.parametrize("text", NO_LETTERS)
def test_text_without_letters_gives_none(detector, text):
    assert detector.detect(text) is None


def test_a_text_too_short_to_tell_gives_none(detector):
    assert detector.detect("ok") is None


def test_detect_many_matches_detect_one_by_one(detector):
    texts = [*SENTENCES.values(), *NO_LETTERS, SENTENCES["th"], TRADITIONAL_CHINESE]
    assert detector.detect_many(texts) == [detector.detect(text) for text in texts]
    assert detector.detect_many([]) == []


def test_get_detector_builds_one_detector_for_all_threads():
    with ThreadPoolExecutor(8) as pool:
        detectors = list(pool.map(lambda _: get_detector(), range(16)))
    assert all(d is detectors[0] for d in detectors)
    assert get_detector() is detectors[0]


def test_threads_get_the_same_answers(detector):
    texts = list(SENTENCES.values()) * 20
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(detector.detect, texts))
    assert answers == list(SENTENCES) * 20


@pytest.mark.slow
def test_the_cache_is_bounded_and_answers_stay_right():
    small = LanguageDetector(cache_size=2)
    for _ in range(2):
        assert [small.detect(SENTENCES[code]) for code in ("en", "fr", "th")] == ["en", "fr", "th"]
    assert small._cached.cache_info().currsize == 2


def test_language_name():
    assert language_name("zh") == "Chinese"
    assert language_name("sw") == "Swahili"
    assert language_name("ZH-cn") == "Chinese"
    assert language_name(None) == "unknown"
    assert language_name("pcm") == "Nigerian Pidgin"  # py3langid labels without an ISO 639-1 code keep 639-3
    assert language_name("xx") == "xx"


def test_every_label_the_model_can_give_has_a_name():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    labels = LanguageIdentifier.from_model_file(MODEL_FILE).labels
    codes = {normalise_code(label) for label in labels} - {None}
    assert len(codes) > 100
    assert [code for code in codes if language_name(code) == code] == []


def test_competition_languages_are_the_fifteen_codes():
    assert sorted(COMPETITION_LANGUAGES) == "ar bg de el en es fr hi ru sw th tr ur vi zh".split()
    assert normalise_code("zh-CN") == "zh"
    assert normalise_code("wuu") == "zh"
    assert normalise_code("zxx") is None


@pytest.mark.slow
def test_the_app_takes_another_detector(smoke_run) -> None:
    """Another language detector needs only `detect` and `detect_many`; the app is handed it, nothing else changes."""
    from gradio_client import Client
    from local_app import launch_local

    from contradiction.inference.predictor import Predictor
    from contradiction.serving.limits import Limits
    from contradiction.serving.monitoring.monitor import Monitor
    from contradiction.serving.page import build_demo

    class Everything(LanguageDetector):  # says every text is Swahili
        def detect(self, text: str) -> str | None:
            return "sw"

        def detect_many(self, texts) -> list[str | None]:
            return ["sw"] * len(texts)

    limits, monitor = Limits(), Monitor()
    demo = build_demo(Predictor.from_pretrained(smoke_run), limits, monitor, detector=Everything())
    try:
        client = Client(launch_local(demo, limits, monitor), verbose=False, analytics_enabled=False)
        answer = client.predict(SENTENCES["en"], SENTENCES["fr"], api_name="/analyze")
    finally:
        demo.close()
    assert answer["premise_language"] == {"code": "sw", "name": "Swahili"}
    assert answer["hypothesis_language"]["code"] == "sw"
