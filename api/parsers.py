"""The API's JSON parser, with a bound on nesting: a body of 100,000 `[` would otherwise
exhaust Python's recursion in the decoder (a RecursionError, so a 500). Every request body
of this API is at most a few levels deep."""

from __future__ import annotations

from rest_framework import exceptions, parsers

MAX_DEPTH = 32


class TooDeep(exceptions.ParseError):
    default_detail = f"Corps de requête trop imbriqué : {MAX_DEPTH} niveaux au plus."
    default_code = "too_deep"


def depth(value) -> int:
    """How deeply lists and objects nest in a decoded JSON value (iteratively)."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            break
        pending.extend((child, level + 1) for child in children)
    return deepest


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise TooDeep() from None
        if depth(data) > MAX_DEPTH:
            raise TooDeep()
        return data
