"""Contract checking: every request the simulator receives under ``/client/v4`` and every
answer it gives are validated against Cloudflare's OpenAPI extract with ``openapi-core``.

The spec is the copy vendored in ``tests/contract/cloudflare-dex-openapi.json`` (see
``tests/contract/PROVENANCE.md``), or ``$DEXBOT_OPENAPI`` to check against another file. A
missing spec is an error, never a skip: the contract check must not switch itself off.

Notes on the spec (see docs/PLATFORM.md): the collection envelope's ``result`` is an object
in the extract; ``fleet-status/live`` declares the bare device object, so an enveloped
answer (``live_status_envelope``) is checked by validating its ``result`` instead. Binary
ZIP downloads are checked for status and headers only. Answers produced by an injected
5xx fault, or the simulator's empty "no data" live status, are not in the spec and are not
checked (the request still is).
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

from bot.sim.dex.app import EMPTY_BODY, FAULT_KEY

SPEC_ENV = "DEXBOT_OPENAPI"
API_PREFIX = "/client/v4"
#: The spec's server: requests to the loopback simulator are checked as if sent there.
SPEC_HOST = "https://api.cloudflare.com"
LIVE_SUFFIX = "/fleet-status/live"


#: The vendored extract; ``../shared/cloudflare-dex-openapi.json`` stays the upstream reference.
VENDORED_SPEC = Path(__file__).resolve().parents[1] / "contract" / "cloudflare-dex-openapi.json"


class SpecMissing(RuntimeError):
    """The OpenAPI file is not where it should be; contract tests cannot run without it."""


def spec_path() -> Path:
    """Where the OpenAPI file is: ``$DEXBOT_OPENAPI`` or the vendored copy."""
    override = os.environ.get(SPEC_ENV)
    return Path(override) if override else VENDORED_SPEC


@dataclass
class Violation:
    """One way a request or response broke the contract."""

    kind: str  # "request" or "response"
    method: str
    path: str
    status: int | None
    message: str

    def __str__(self) -> str:
        return f"{self.kind} {self.method} {self.path} -> {self.status}: {self.message}"


class _SpecRequest:
    """openapi-core's Request protocol over the parts of an aiohttp request."""

    def __init__(
        self, method: str, path: str, query: Any, headers: Any, body: bytes | None, ctype: str
    ) -> None:
        self.host_url = SPEC_HOST
        self.path = path
        self.method = method.lower()
        self.body = body or None
        self.content_type = ctype or "application/json"
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(list(query.items())),
            header=Headers(list(headers.items())),
            cookie=ImmutableMultiDict(),
        )


class _SpecResponse:
    """openapi-core's Response protocol over a status, headers and body bytes."""

    def __init__(self, status: int, headers: Any, data: bytes, ctype: str) -> None:
        self.status_code = status
        self.headers = Headers(list(headers.items()))
        self.data = data
        self.content_type = ctype


def _describe(exc: BaseException) -> str:
    parts = [f"{type(exc).__name__}: {exc}"]
    cause: BaseException | None = exc.__cause__
    while cause is not None:
        details = getattr(cause, "schema_errors", None)
        if details:
            for err in details:
                where = "/".join(str(p) for p in getattr(err, "absolute_path", []))
                parts.append(f"{where or '<root>'}: {getattr(err, 'message', err)}")
        else:
            parts.append(f"{type(cause).__name__}: {cause}")
        cause = cause.__cause__
    return "; ".join(parts)


class ContractValidator:
    """Validate DEX requests and responses against the OpenAPI file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        spec = json.loads(path.read_text(encoding="utf-8"))
        # Spec quirk: the account identifier schema is marked readOnly (it is a response
        # property elsewhere upstream) but here it is only used for the {account_id} path
        # parameter; readOnly means nothing for parameters in OpenAPI 3.0, yet openapi-core
        # would reject every request for "writing" it. Drop the flag in memory only.
        account = spec["components"]["schemas"].get(
            "digital-experience-monitoring_account_identifier", {}
        )
        account.pop("readOnly", None)
        self.openapi = OpenAPI.from_dict(spec)

    def check_request(
        self,
        method: str,
        path: str,
        query: Any,
        headers: Any,
        body: bytes | None = None,
        content_type: str = "application/json",
    ) -> list[str]:
        """Problems with a request; empty when it follows the contract."""
        request = _SpecRequest(method, path, query, headers, body, content_type)
        return [_describe(e) for e in self.openapi.iter_request_errors(request)]

    def check_response(
        self,
        method: str,
        path: str,
        query: Any,
        request_headers: Any,
        status: int,
        headers: Any,
        data: bytes,
        content_type: str,
    ) -> list[str]:
        """Problems with a JSON response to a request; empty when it follows the contract."""
        if path.endswith(LIVE_SUFFIX) and status == 200:
            # Accept the enveloped live status too: check the envelope, then the bare object.
            try:
                doc = json.loads(data)
            except ValueError:
                return ["response body is not JSON"]
            if isinstance(doc, dict) and "success" in doc and "result" in doc:
                if doc.get("success") is not True or doc.get("errors") != []:
                    return ["enveloped live status must have success=true and errors=[]"]
                data = json.dumps(doc["result"]).encode()
        request = _SpecRequest(method, path, query, request_headers, None, "")
        response = _SpecResponse(status, headers, data, content_type)
        return [_describe(e) for e in self.openapi.iter_response_errors(request, response)]

    def check_download(self, status: int, headers: Any) -> list[str]:
        """Status and headers of a binary ZIP download."""
        problems = []
        if status != 200:
            problems.append(f"a file download must answer 200, not {status}")
        if headers.get("Content-Type", "").split(";")[0] != "application/zip":
            problems.append(f"Content-Type is {headers.get('Content-Type')!r}, not application/zip")
        if not headers.get("Content-Disposition", "").startswith("attachment"):
            problems.append("Content-Disposition: attachment is missing")
        return problems


def load_validator() -> tuple[ContractValidator, str]:
    """The validator and what it checks against; :class:`SpecMissing` when the file is absent.

    Built once per spec file.
    """
    path = spec_path()
    if not path.is_file():
        raise SpecMissing(
            f"OpenAPI file not found at {path} (vendored at {VENDORED_SPEC}, or set {SPEC_ENV})"
        )
    return _validator_for(path), f"contract checked against {path}"


@functools.cache
def _validator_for(path: Path) -> ContractValidator:
    # Parsing the spec takes ~0.4 s; validators hold no per-test state, so share them.
    return ContractValidator(path)


@dataclass
class ContractRecorder:
    """An aiohttp middleware that validates traffic under /client/v4 and collects violations."""

    validator: ContractValidator
    violations: list[Violation] = field(default_factory=list)
    checked: int = 0

    def middleware(self) -> Middleware:
        """The middleware; put it outermost so it sees exactly what goes over the wire."""

        @web.middleware
        async def contract(request: web.Request, handler: Handler) -> web.StreamResponse:
            if not request.path.startswith(API_PREFIX + "/"):
                return await handler(request)
            body = await request.read() if request.body_exists else None
            self.checked += 1
            problems = self.validator.check_request(
                request.method,
                request.path,
                request.query,
                request.headers,
                body,
                request.content_type,
            )
            new = [Violation("request", request.method, request.path, None, p) for p in problems]
            self.violations += new
            response = await handler(request)  # a dropped connection raises: nothing to check
            for violation in new:  # the status answered, to exempt deliberate bad input
                violation.status = response.status
            if any(p.startswith(("PathNotFound", "OperationNotFound")) for p in problems):
                return response  # not an operation of the contract: no response to check
            for problem in self._check_response(request, response):
                self.violations.append(
                    Violation("response", request.method, request.path, response.status, problem)
                )
            return response

        return contract

    def _check_response(self, request: web.Request, response: web.StreamResponse) -> list[str]:
        if response.status >= 500 and request.get(FAULT_KEY) in ("500", "502"):
            return []
        if request.get(FAULT_KEY) == EMPTY_BODY:  # the "no data" answer the spec does not know
            return []
        if isinstance(response, web.FileResponse):
            return self.validator.check_download(response.status, response.headers)
        if not isinstance(response, web.Response):
            return [f"unexpected streamed response {type(response).__name__}"]
        data = response.body if isinstance(response.body, bytes) else b""
        if response.content_type != "application/json":
            return [f"answered {response.content_type!r}, not JSON"]
        return self.validator.check_response(
            request.method,
            request.path,
            request.query,
            request.headers,
            response.status,
            response.headers,
            data,
            response.content_type,
        )

    def failures(self, expect_invalid_requests: bool = False) -> list[Violation]:
        """Violations that should fail the test.

        With ``expect_invalid_requests``, bad requests the simulator answered with a 4xx
        (deliberate bad input in the test) are exempt; bad responses never are.
        """
        return [
            v
            for v in self.violations
            if not (
                expect_invalid_requests
                and v.kind == "request"
                and v.status is not None
                and 400 <= v.status < 500
            )
        ]
