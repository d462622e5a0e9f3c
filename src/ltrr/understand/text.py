"""One normaliser and tokenizer for indexing and querying.

Queries and catalog text must be folded the same way, or an accented title never matches its
unaccented query: Unicode NFKC, case folding, accent stripping (NFKD minus combining marks) and
splitting on anything that is not a letter or a digit. Apostrophes are dropped inside words so
that "don't" and "dont" meet.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
_APOSTROPHES = re.compile(r"(?<=\w)['\u2019\u02bc](?=\w)")
_CONTROL = {c: " " for c in range(32)} | {127: " "}


def fold(text: str) -> str:
    """Case- and accent-folded text with control characters turned into spaces.

    Short strings (queries, names) repeat and are cached; long ones (abstracts) are not, so the
    cache never holds a corpus.

    >>> fold("Beyoncé — CRAZY in Love")
    'beyonce — crazy in love'
    """
    return _fold_cached(text) if len(text) <= _CACHE_MAX_CHARS else _fold(text)


_CACHE_MAX_CHARS = 256


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKC", text.translate(_CONTROL)).casefold()
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", stripped)


_fold_cached = lru_cache(maxsize=65536)(_fold)


def tokenize(text: str) -> list[str]:
    """Folded word tokens.

    >>> tokenize("Don't Stop Me Now (2011 Remaster)")
    ['dont', 'stop', 'me', 'now', '2011', 'remaster']
    """
    return _TOKEN.findall(_APOSTROPHES.sub("", fold(text)))


def normalize(text: str) -> str:
    """Tokens joined by single spaces: the canonical form of a name or a query.

    >>> normalize("  Tayler   SWIFT!! ")
    'tayler swift'
    """
    return " ".join(tokenize(text))
