"""The customer's language: detected with lingua (its models ship in the package; nothing is downloaded), and the
language the AI answers in.

The detector knows a small, fixed set (LANGUAGES: English, Spanish and the other languages a location can choose
to answer in), so a French message is recognised as French and handed off politely at a location that answers in
English and Spanish only. It is built once per process, on first use (about 1 s and ~250 MB resident for the
eight languages in high-accuracy mode, which short chat messages need; a detection then takes ~0.05 ms), and is
shared by the worker's threads (lingua's detector is thread-safe). Only the AI's process builds it: detection runs
when the AI answers, not when a message arrives.

Short messages say little ("ok", "lot 14?"): below a few letters, or when lingua is not confident, a handful of
unmistakable words decide ("hola", "gracias"), else the language the customer wrote in before, else the business's.
"""

from __future__ import annotations

import re
import threading
import unicodedata

# ISO 639-1 code → (name in English, name in the language itself). The choices of Location.languages.
LANGUAGES: dict[str, tuple[str, str]] = {
    "en": ("English", "English"),
    "es": ("Spanish", "Español"),
    "fr": ("French", "Français"),
    "pt": ("Portuguese", "Português"),
    "vi": ("Vietnamese", "Tiếng Việt"),
    "zh": ("Chinese", "中文"),
    "ko": ("Korean", "한국어"),
    "tl": ("Tagalog", "Tagalog"),
}

# A polite handoff in a language the location does not answer in ("a person will reply").
HANDOFF_TEXTS: dict[str, str] = {
    "en": "Thanks for your message! A member of our team will reply to you here as soon as possible.",
    "es": "¡Gracias por su mensaje! Un miembro de nuestro equipo le responderá aquí lo antes posible.",
    "fr": "Merci pour votre message ! Un membre de notre équipe vous répondra ici dès que possible.",
    "pt": "Obrigado pela sua mensagem! Um membro da nossa equipe responderá aqui o mais rápido possível.",
    "vi": "Cảm ơn bạn đã nhắn tin! Một thành viên trong nhóm của chúng tôi sẽ trả lời bạn tại đây sớm nhất có thể.",
    "zh": "感谢您的留言！我们的团队成员会尽快在这里回复您。",
    "ko": "메시지 감사합니다! 저희 팀원이 최대한 빨리 여기에서 답변드리겠습니다.",
    "tl": "Salamat sa inyong mensahe! Sasagutin kayo rito ng isang miyembro ng aming team sa lalong madaling panahon.",
}

# Words that settle a message too short for the statistics ("hola", "thx").
_SURE_WORDS: dict[str, str] = {
    **dict.fromkeys(
        "hola gracias buenos buenas dias días tardes noches necesito quiero tienen hay cuanto cuánto cuando "
        "cuándo donde dónde perros perro mascotas gatos renta casas casa habitaciones recamaras recámaras ayuda "
        "señor señora disculpe por favor si sí adios adiós horario dirección direccion".split(),
        "es",
    ),
    **dict.fromkeys(
        "hi hello hey thanks thank thx ty yes yeah yep nope bye please pls the rent lot dogs pets "
        "hours address tour homes".split(),
        "en",
    ),
    **dict.fromkeys("bonjour merci oui".split(), "fr"),
    **dict.fromkeys("obrigado obrigada olá".split(), "pt"),
}
_CONFIDENT = 0.6  # lingua's confidence needed for a short message (under MIN_LETTERS_TRUSTED letters)
MIN_LETTERS_TRUSTED = 12
_MARGIN = 0.15  # a lead over the runner-up that settles a message of MIN_LETTERS_TRUSTED letters or more

_detector = None
_detector_lock = threading.Lock()


def detector():
    """The process's lingua detector over LANGUAGES, built on first use."""
    global _detector
    if _detector is None:
        with _detector_lock:
            if _detector is None:
                from lingua import IsoCode639_1, LanguageDetectorBuilder

                codes = [getattr(IsoCode639_1, code.upper()) for code in LANGUAGES]
                _detector = (
                    LanguageDetectorBuilder.from_iso_codes_639_1(*codes).with_preloaded_language_models().build()
                )
    return _detector


def _letters(text: str) -> int:
    return sum(1 for ch in text if ch.isalpha())


def _sure_word(text: str) -> str | None:
    folded = unicodedata.normalize("NFKC", text).lower()
    votes: dict[str, int] = {}
    for word in re.findall(r"[^\W\d_]+", folded):
        lang = _SURE_WORDS.get(word)
        if lang:
            votes[lang] = votes.get(lang, 0) + 1
    if "¿" in folded or "¡" in folded or "ñ" in folded:
        votes["es"] = votes.get("es", 0) + 2
    if not votes:
        return None
    best = max(votes.items(), key=lambda kv: kv[1])
    return best[0] if list(votes.values()).count(best[1]) == 1 else None


def detect_language(text: str, *, previous: str | None = None, default: str = "en") -> str:
    """The language of a customer's text (ISO 639-1). A text without letters, or too short to tell, is in the
    language the customer wrote in before (previous), else the default (the business's language)."""
    text = (text or "").strip()
    fallback = previous or default
    if _letters(text) == 0:
        return fallback
    values = detector().compute_language_confidence_values(text)
    top = values[0] if values else None
    code = top.language.iso_code_639_1.name.lower() if top is not None else None
    sure = _sure_word(text)
    second = values[1].value if len(values) > 1 else 0.0
    if _letters(text) >= MIN_LETTERS_TRUSTED and top is not None and top.value - second >= _MARGIN:
        # Related languages split lingua's confidence ("el lote 52 esta disponible?": Spanish 0.53, French 0.38):
        # a clear lead over the runner-up is an answer.
        if sure == "es" and code == "pt" and top.value < 0.8:
            return "es"
        return code
    if _letters(text) < MIN_LETTERS_TRUSTED or top is None or top.value < _CONFIDENT:
        if sure:
            return sure
        if top is not None and top.value >= _CONFIDENT and _letters(text) >= 4:
            return code
        return fallback
    if sure == "es" and code == "pt" and top.value < 0.8:  # Spanish and Portuguese share most short words
        return "es"
    return code or fallback


def answer_language(detected: str, allowed: list[str]) -> str | None:
    """The language to answer in: the customer's, when the location answers in it; None when it does not."""
    return detected if detected in allowed else None


def language_name(code: str | None) -> str:
    """'Spanish' for 'es' (the code itself when unknown)."""
    if not code:
        return ""
    return LANGUAGES.get(code, (code, code))[0]
