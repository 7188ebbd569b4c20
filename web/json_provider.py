"""Flask's JSON provider with orjson doing the encoding: the API answers every request with JSON, and
the standard encoder costs several times more per response (a 20-row inbox page: ~0.1 ms)."""

from __future__ import annotations

from typing import Any

import orjson
from flask.json.provider import DefaultJSONProvider

from engine.db import has_long_number

_COMPACT = {"separators": (",", ":")}


class OrjsonProvider(DefaultJSONProvider):
    """Flask's defaults (sorted keys, its conversions: dates as HTTP dates, Decimal and UUID as text,
    dataclasses as objects), encoded by orjson; text is UTF-8 rather than \\u escapes and NaN is written as
    null. Calls with options orjson does not have (indent, a custom default) and values it refuses go to
    Flask's own encoder."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if not kwargs or kwargs == _COMPACT:  # plain calls, and response() outside debug mode
            option = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
            if self.sort_keys:
                option |= orjson.OPT_SORT_KEYS
            try:
                return orjson.dumps(obj, default=self.default, option=option).decode()
            except TypeError:  # orjson.JSONEncodeError: non-string keys, huge integers, ...
                pass
        return super().dumps(obj, **kwargs)

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse a request body: orjson, or the standard parser for 19-digit numbers (integers beyond 64 bits
        stay integers). NaN and Infinity are not JSON and are refused (the API answers 400)."""
        if not kwargs:
            if not has_long_number(s):
                try:
                    return orjson.loads(s)
                except orjson.JSONDecodeError:
                    pass
            kwargs["parse_constant"] = _refuse_constant
        return super().loads(s, **kwargs)


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON value")
