"""The app's JSON (web/json_provider.py): orjson's speed with Flask's conventions."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import json
import uuid

from flask import Flask
from flask.json.provider import DefaultJSONProvider

from web.json_provider import OrjsonProvider


def _pair():
    app = Flask(__name__)
    return OrjsonProvider(app), DefaultJSONProvider(app)


@dataclasses.dataclass
class Point:
    x: int
    label: str


def test_responses_mean_what_flasks_encoder_would_write():
    """Same values as Flask's own provider (sorted keys, HTTP dates, Decimal/UUID as text, dataclasses as
    objects), compact, with Chinese as UTF-8 text."""
    ours, flask = _pair()
    value = {"b": 1, "a": [dt.datetime(2027, 6, 30, 8, tzinfo=dt.UTC), dt.date(2028, 2, 29)],
             "fee": decimal.Decimal("12.50"), "id": uuid.UUID(int=7), "p": Point(1, "龙岗"), "none": None}
    text = ours.dumps(value, separators=(",", ":"))
    assert json.loads(text) == json.loads(flask.dumps(value))
    assert text.startswith('{"a":["Wed, 30 Jun 2027 08:00:00 GMT","Tue, 29 Feb 2028 00:00:00 GMT"]')
    assert '"b":1,' in text and '"label":"龙岗"' in text  # compact, UTF-8


def test_what_orjson_refuses_goes_to_flasks_encoder():
    """Integer keys and indentation are Flask's (standard encoder); escaped text parses."""
    ours, flask = _pair()
    assert ours.dumps({2027: "a"}) == flask.dumps({2027: "a"}) == '{"2027": "a"}'
    assert ours.dumps({"a": 1}, indent=2) == flask.dumps({"a": 1}, indent=2)
    assert ours.loads(b'{"note": "\\u9f99\\u5c97"}') == {"note": "龙岗"}


def test_the_app_uses_it(tmp_path):
    """create_app installs the provider: API answers come from it."""
    from web import create_app

    app = create_app({"IDIFLOW_ENV": "test", "IDIFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'j.db'}"})
    assert isinstance(app.json, OrjsonProvider)
    with app.app_context():
        from flask import jsonify

        response = jsonify({"z": 1, "a": "龙岗"})
    assert response.get_data(as_text=True) == '{"a":"龙岗","z":1}\n'


def test_request_bodies_keep_huge_integers_and_refuse_nan():
    """Bodies parse as the standard parser would (huge integers stay integers); NaN is not JSON: refused."""
    import pytest

    ours, _flask = _pair()
    assert ours.loads('{"n": 1180591620717411303424}') == {"n": 2**70}
    with pytest.raises(ValueError, match="NaN"):
        ours.loads('{"x": NaN}')
