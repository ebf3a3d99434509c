""""Did you mean ...?" for a misspelled name: the close matches difflib finds."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def close_match(word: str, choices: Iterable[str]) -> str | None:
    """The choice closest to ``word`` (case and ``-``/``_`` ignored), or None if none is
    close (difflib's ratio of at least 0.6: "adan" -> "adam", "xyz" -> None)."""
    def key(text: str) -> str:
        return text.lower().replace("_", "-")

    by_key = {key(c): c for c in choices}
    found = difflib.get_close_matches(key(word), list(by_key), n=1, cutoff=0.6)
    return by_key[found[0]] if found else None


def did_you_mean(word: str, choices: Iterable[str], spell: str = "{}") -> str:
    """"; did you mean adam?" for an error message (``spell`` formats the suggestion,
    e.g. "--data {}"), or "" when nothing is close."""
    match = close_match(word, choices)
    return "" if match is None else f"; did you mean {spell.format(match)}?"
