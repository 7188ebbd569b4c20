"""One place that turns errors into JSON answers shaped {"error": ..., "detail": ...} for the API."""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, Response, jsonify, request
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from engine.errors import EngineError, conflict_from_database

log = logging.getLogger(__name__)

API_PREFIX = "/api/"


class ApiError(Exception):
    """An error raised by an API view itself (bad request body, missing token, wrong role)."""

    def __init__(self, status: int, error: str, detail: str, **extra):
        super().__init__(detail)
        self.status, self.error, self.detail, self.extra = status, error, detail, extra

    def to_dict(self) -> dict:
        """The JSON body of the answer."""
        return {"error": self.error, "detail": self.detail, **self.extra}


def json_error(status: int, body: dict, headers: dict | None = None) -> tuple[Response, int]:
    """A JSON error response."""
    response = jsonify(body)
    response.headers.update(headers or {})
    return response, status


def _engine_error(err: EngineError):
    return json_error(err.http_status, err.to_dict())


def _api_error(err: ApiError):
    headers = {"WWW-Authenticate": 'Bearer realm="idiflow"'} if err.status == 401 else None
    return json_error(err.status, err.to_dict(), headers)


def _stale(err: StaleDataError):
    log.info("optimistic lock lost: %s", err)
    return json_error(409, {"error": "InstanceConflict",
                            "detail": "Someone changed this instance at the same time; reload and retry."})


def _operational(err: OperationalError):
    conflict = conflict_from_database(err)
    if conflict is not None:  # a PostgreSQL deadlock or serialization failure: the transaction was undone
        log.warning("the database undid a request for a concurrent one: %s", err.orig)
        return _engine_error(conflict)
    if "database is locked" in str(err.orig).lower():
        return json_error(409, {"error": "DatabaseBusy",
                                "detail": "The database was busy with another change; retry in a moment."})
    raise err


def _http_error(err: HTTPException):
    if not request.path.startswith(API_PREFIX):
        return err
    return json_error(err.code or 500, {"error": err.name.replace(" ", ""), "detail": err.description})


def init_api_errors(bp: Blueprint) -> None:
    """Map engine, API and database errors raised by the API's views to JSON."""
    bp.register_error_handler(EngineError, _engine_error)
    bp.register_error_handler(ApiError, _api_error)
    bp.register_error_handler(StaleDataError, _stale)
    bp.register_error_handler(OperationalError, _operational)


def init_app(app: Flask) -> None:
    """HTTP errors (unknown URL, wrong method, too large) under /api/ answer JSON; pages keep HTML."""
    app.register_error_handler(HTTPException, _http_error)
