"""The words of every report (explain, its --rnn, --conv and --attention derivations, the
interactive pages, check): one table per language, English the default.

A table is a module of this package, named by its language code, holding ``MESSAGES``, a
dict from a key (``"mlp.heading.forward"``) to a ``str.format`` template. Adding a
language is adding one such module with every key of ``en``: ``LANGUAGES`` lists the
modules found here, and a test checks that each has exactly English's keys, with the same
placeholders and number formats. The renderers take every word from a table through
``Words``; the numbers, formulas and checks they fill in are shared, so two languages
cannot disagree on a number.

A ``Message`` is a string that remembers its key and arguments: a derivation can keep one
(a note, a check's name) as plain English text while every renderer writes it in its own
language.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

DEFAULT = "en"
LANGUAGES: tuple[str, ...] = tuple(sorted(
    (info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_")),
    key=lambda code: (code != DEFAULT, code)))


def check_language(lang: str, who: str = "chainrule") -> str:
    """``lang`` if a table exists for it, else one ValueError listing the codes there are."""
    if lang not in LANGUAGES:
        raise ValueError(f"{who}: language must be one of {', '.join(LANGUAGES)}, got {lang!r}")
    return lang


def table(lang: str = DEFAULT) -> dict[str, str]:
    """The messages of language ``lang`` (key -> template)."""
    check_language(lang)
    return importlib.import_module(f"{__name__}.{lang}").MESSAGES


class Message(str):
    """The English text of message ``key`` filled with ``args``, remembering both so that
    ``Words.text`` can write it in another language."""

    key: str
    args: dict[str, Any]

    def __new__(cls, key: str, /, **args: Any) -> Message:
        self = super().__new__(cls, Words(DEFAULT)(key, **args))
        self.key, self.args = key, args
        return self


class Words:
    """The messages of one language: ``words(key, **args)`` is the template of ``key``
    filled in (an argument that is a Message is written in this language too)."""

    def __init__(self, lang: str = DEFAULT) -> None:
        self.lang = check_language(lang)
        self.table = table(lang)

    def __call__(self, key: str, /, **args: Any) -> str:
        return self.table[key].format(**{k: self.text(v) for k, v in args.items()})

    def text(self, value: Any) -> Any:
        """A Message in this language; anything else as it is."""
        return self(value.key, **value.args) if isinstance(value, Message) else value


def words(lang: str | Words = DEFAULT) -> Words:
    """``lang`` as Words (a Words object is passed through)."""
    return lang if isinstance(lang, Words) else Words(lang)


__all__ = ["DEFAULT", "LANGUAGES", "Message", "Words", "check_language", "table", "words"]
