"""Async client for Cloudflare's DEX remote-commands API.

One ``httpx.AsyncClient`` carries every call; a ``RateLimiter`` keeps the client inside
Cloudflare's budget (1,200 requests per 5 minutes per token) and makes every caller back off
together after a 429; the v4 envelope is parsed in one place (``_unwrap``). The token lives
only in the Authorization header: never in a log line, a repr or an exception message.

Reads (GET) retry on 429 (waiting exactly ``Retry-After``, or raising at once when that ends
past the call's deadline), on 5xx and on transport errors (connect errors, timeouts, dropped
connections), with full-jitter back-off. Other 4xx never retry. A download retries the same
way and restarts from scratch.

``POST /commands`` spends quota and starts a capture on someone's laptop, so it is never
blindly repeated. When its fate is unknown the client *reconciles*: it lists the commands
of each target device of that type created since the attempt began (minus 120 s for clock
skew) and takes a command it had not seen before as the one it created (one per spec;
``registration_id`` must match when both sides have one).

=============================================  ============================================
POST outcome                                   what the client does
=============================================  ============================================
2xx with the created commands                  return them
2xx we cannot read (not JSON, no envelope)     reconcile: Cloudflare did act
429, or 503                                    not processed: wait (``Retry-After`` or
                                               back-off) and send again within the deadline
500, 502, 504, any other 5xx                   reconcile
any other 4xx (bad request, auth, quota)       raise; nothing was created. Unless the answer
                                               already reads as a spent quota, the quota is
                                               re-read first: 0 left raises
                                               ``DexQuotaExceededError`` whatever the code
ConnectError, ConnectTimeout, PoolTimeout      never sent: send again, once, within the
                                               deadline (nothing to reconcile)
read timeout, dropped connection, ...          reconcile
reconcile finds one new command per spec       return those (as ``CreatedCommand``)
reconcile finds some                           ``DexPartialWriteError`` (``.created``)
reconcile finds none, two for one spec, or     ``DexAmbiguousWriteError``: the caller must
fails itself                                   not resend blindly (it could run twice, or
                                               attribute a stranger's capture to a requester)
=============================================  ============================================
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from bot.dex.bulk import BULK_ERRORS, BulkHttp, as_httpx, read_capped
from bot.dex.download import (
    ChunkSink,
    DownloadedArtifact,
    local_artifact_name,
    remote_artifact_name,
    stream_to_file,
)
from bot.dex.errors import (
    ApiMessage,
    DexAmbiguousWriteError,
    DexApiError,
    DexError,
    DexNoLiveData,
    DexNotFoundError,
    DexQuotaExceededError,
    DexRateLimitedError,
    DexTransportError,
    DexValidationError,
)
from bot.dex.models import (
    ARGS_FOR_TYPE,
    MAX_DEVICES_PER_CREATE,
    MAX_PER_PAGE,
    Command,
    CommandSpec,
    CommandStatus,
    CommandType,
    CreatedCommand,
    DeviceLiveStatus,
    EligibleDevice,
    Page,
    Quota,
    ResultInfo,
)
from bot.dex.ratelimit import RateLimiter
from bot.dex.retry import (
    TRANSPORT_ERRORS,
    KnownCommands,
    QuotaSignals,
    RetryBudget,
    RetryPolicy,
    api_messages,
    as_created,
    classify_error,
    could_be_ours,
    is_retryable_read_error,
    parse_retry_after,
    was_not_sent,
)

if TYPE_CHECKING:
    from bot.config import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
ItemT = TypeVar("ItemT")

#: Reconciling looks this far before the attempt began: Cloudflare's clock may differ.
CLOCK_SKEW = timedelta(seconds=120)
_ERROR_BODY_CAP = 64 * 1024


class DexPartialWriteError(DexAmbiguousWriteError):
    """Reconciling found commands for some specs of a create call but not for others."""

    def __init__(self, message: str, created: list[CreatedCommand], missing: list[str]) -> None:
        super().__init__(message)
        self.created = created
        self.missing_devices = missing


class _UnreadableAnswer(DexApiError):
    """A 2xx we could not read: Cloudflare acted, but we do not know what it said."""


class DexClient:
    """Async client for the DEX remote-commands endpoints of one Cloudflare account."""

    def __init__(
        self,
        base_url: str,
        token: str,
        account_id: str,
        *,
        http: httpx.AsyncClient | None = None,
        limiter: RateLimiter | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        quota_signals: QuotaSignals | None = None,
    ) -> None:
        if not base_url or not token or not account_id:
            raise DexValidationError("base_url, token and account_id must all be given")
        self.base_url = base_url.rstrip("/")
        self.account_id = account_id
        self._token = SecretStr(token)
        self._timeout = httpx.Timeout(timeout)
        self._owns_http = http is None
        self._http_client = http
        #: The artifact download's own HTTP (aiohttp; see ``bot.dex.bulk`` for why).
        self._bulk = BulkHttp(timeout)
        self._response_hooks: list[Callable[[httpx.Response], Awaitable[None]]] = []
        self.limiter = limiter or RateLimiter()
        self.retry = retry or RetryPolicy()
        self._quota_flight: asyncio.Future[Quota] | None = None
        #: What a spent quota looks like in an error answer (codes, message patterns).
        self.quota_signals = quota_signals or QuotaSignals()
        self._known = KnownCommands()

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> DexClient:
        """A client for the configured account (the local simulator's when none is set)."""
        kwargs.setdefault(
            "limiter",
            RateLimiter(settings.cloudflare_rate_limit, settings.cloudflare_rate_window_seconds),
        )
        kwargs.setdefault("timeout", settings.cloudflare_timeout_seconds)
        kwargs.setdefault(
            "quota_signals",
            QuotaSignals(
                frozenset(settings.cloudflare_quota_error_codes),
                tuple(settings.cloudflare_quota_error_patterns),
            ),
        )
        return cls(
            settings.cloudflare_api_url,
            settings.cloudflare_token(),
            settings.cloudflare_account(),
            **kwargs,
        )

    @property
    def _http(self) -> httpx.AsyncClient:
        # Made on first use: its TLS set-up costs ~25 ms of the bot's start-up.
        if self._http_client is None:
            self._http_client = httpx.AsyncClient(
                timeout=self._timeout,
                follow_redirects=False,
                event_hooks={"response": list(self._response_hooks)},
            )
        return self._http_client

    def __repr__(self) -> str:
        return f"DexClient(base_url={self.base_url!r}, account_id={self.account_id!r})"

    async def __aenter__(self) -> DexClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this client created it, and the download session."""
        await self._bulk.aclose()
        if self._owns_http and self._http_client is not None:
            await self._http_client.aclose()

    def add_response_hook(self, hook: Callable[[httpx.Response], Awaitable[None]]) -> None:
        """Call ``hook`` with every HTTP answer (each attempt, 429s included), e.g. for metrics.

        A hook sees a download before its body is read (as an ``httpx.Response`` with its
        status and headers, ``bot.dex.bulk.as_httpx``); it must not read that body.
        Adding one does not make the HTTP client (that waits for the first call).
        """
        self._response_hooks.append(hook)
        if self._http_client is not None:
            self._http_client.event_hooks["response"].append(hook)

    def rate_budget_remaining(self) -> int:
        """Requests left in the limiter's current window (0 while backing off after a 429)."""
        return self.limiter.remaining()

    # -- endpoints ---------------------------------------------------------------------

    async def list_commands(
        self,
        *,
        page: int = 1,
        per_page: int = MAX_PER_PAGE,
        command_type: CommandType | str | None = None,
        device_id: str | None = None,
        user_email: str | None = None,
        status: CommandStatus | str | None = None,
        from_: datetime | None = None,
        to: datetime | None = None,
    ) -> Page[Command]:
        """One page of the account's commands, optionally filtered, newest first.

        The order is ours: the docs promise none, so the page is sorted by ``created_date``
        here (rows without one last). Across pages there is no order to rely on at all; see
        ``recent_commands``.
        """
        params = _page_params(page, per_page)
        if command_type is not None:
            params["command_type"] = _enum_value(command_type, CommandType, "command_type")
        if status is not None:
            params["status"] = _enum_value(status, CommandStatus, "status")
        if device_id is not None:
            params["device_id"] = _require_id(device_id, "device_id")
        if user_email is not None:
            params["user_email"] = _require_id(user_email, "user_email")
        if from_ is not None:
            params["from"] = _rfc3339(from_, "from_")
        if to is not None:
            params["to"] = _rfc3339(to, "to")
        result, info = await self._get(self._url("dex", "commands"), params)
        items = newest_first(_models(Command, _rows(result, "commands")))
        self._known.learn(c.id for c in items)
        return Page[Command](items=items, info=_info(info, page, per_page, len(items)))

    async def recent_commands(
        self, limit: int, *, max_pages: int = 10, per_page: int = MAX_PER_PAGE, **filters: Any
    ) -> list[Command]:
        """The ``limit`` newest commands matching the filters of ``list_commands``.

        Reads every page (at most ``max_pages`` of ``per_page``) before sorting, since
        Cloudflare does not say which order its list comes in.
        """
        rows: list[Command] = []
        async for command in self.iter_commands(per_page=per_page, **filters):
            rows.append(command)
            if len(rows) >= max_pages * per_page:
                break  # before asking for one more page
        return newest_first(rows)[:limit]

    async def iter_commands(
        self, *, per_page: int = MAX_PER_PAGE, **filters: Any
    ) -> AsyncIterator[Command]:
        """Every command matching the filters of ``list_commands``, page after page."""

        async def fetch(n: int) -> Page[Command]:
            return await self.list_commands(page=n, per_page=per_page, **filters)

        async for command in _all_pages(fetch, lambda c: c.id):
            yield command

    async def list_devices(
        self, *, search: str | None = None, page: int = 1, per_page: int = MAX_PER_PAGE
    ) -> Page[EligibleDevice]:
        """One page of devices seen in the last hour, with whether each can run commands."""
        params = _page_params(page, per_page)
        if search:
            params["search"] = search
        result, info = await self._get(self._url("dex", "commands", "devices"), params)
        items = _models(EligibleDevice, _rows(result, "devices"))
        return Page[EligibleDevice](items=items, info=_info(info, page, per_page, len(items)))

    async def iter_devices(
        self, search: str | None = None, *, per_page: int = MAX_PER_PAGE
    ) -> AsyncIterator[EligibleDevice]:
        """Every row ``list_devices`` would show (one per device and registration)."""

        async def fetch(n: int) -> Page[EligibleDevice]:
            return await self.list_devices(search=search, page=n, per_page=per_page)

        async for device in _all_pages(fetch, lambda d: f"{d.device_id}/{d.registration_id}"):
            yield device

    async def get_quota(self) -> Quota:
        """The account's command quota, usage and reset time (re-read before dispatch).

        A read asked for while another is in flight shares that one's answer: Cloudflare
        gives it after the newcomer asked, so it is as fresh as a call of its own, and a
        burst of approvals and cards spends one request of the API budget, not one each."""
        flight = self._quota_flight
        if flight is None or flight.done():
            flight = self._quota_flight = asyncio.ensure_future(self._read_quota())
        return await asyncio.shield(flight)

    async def _read_quota(self) -> Quota:
        result, _ = await self._get(self._url("dex", "commands", "quota"), {})
        return _models(Quota, [result])[0]

    async def live_status(self, device_id: str, since_minutes: int = 10) -> DeviceLiveStatus:
        """A device's latest fleet status (bare object per the contract; envelope accepted).

        ``DexNoLiveData`` when Cloudflare has nothing for the window: a 404, an empty body or
        an envelope without ``result``.
        """
        device_id = _require_id(device_id, "device_id")
        if not 1 <= since_minutes <= 60:
            raise DexValidationError(f"since_minutes must be 1..60; got {since_minutes}")
        url = self._url("dex", "devices", device_id, "fleet-status", "live")
        try:
            result, _ = await self._get(url, {"since_minutes": since_minutes}, bare_ok=True)
        except DexNotFoundError as exc:
            raise DexNoLiveData(f"no live status for {device_id} in {since_minutes} min") from exc
        except _UnreadableAnswer as exc:
            if "empty answer" not in str(exc):
                raise
            raise DexNoLiveData(f"no live status for {device_id} in {since_minutes} min") from exc
        if result is None:
            raise DexNoLiveData(f"no live status for {device_id} in {since_minutes} min")
        return _models(DeviceLiveStatus, [result])[0]

    async def download_artifact(
        self,
        command_id: str,
        filename: str | None,
        dest_dir: Path,
        *,
        chunk_size: int = 1 << 20,
        max_bytes: int | None = None,
        sink: ChunkSink | None = None,
        durable: bool = True,
    ) -> DownloadedArtifact:
        """Stream a command's artifact into ``dest_dir``; returns path, size and SHA-256.

        ``filename`` is the list row's value (a bare name or a URL); the local name is
        sanitised. Over ``max_bytes`` raises ``ArtifactTooLarge`` and keeps nothing.
        ``sink`` sees the bytes as they pass, every attempt anew (see ``ChunkSink``);
        ``durable=False`` skips the fsync of a copy that is deleted after use.
        """
        command_id = _require_id(command_id, "command_id")
        remote = remote_artifact_name(filename, command_id)
        local = local_artifact_name(remote, command_id)
        url = self._url("dex", "commands", command_id, "downloads", remote)

        async def once(budget: RetryBudget) -> DownloadedArtifact:
            await self._admit(budget)
            answered = False
            try:
                async with self._bulk.get(url, self._headers("application/zip")) as response:
                    answered = True
                    answer = as_httpx(response, url)
                    self._observe(answer)
                    for hook in self._response_hooks:
                        await hook(answer)
                    if not answer.is_success:
                        self._unwrap(answer, content=await read_capped(response, _ERROR_BODY_CAP))
                    return await stream_to_file(
                        response.content.iter_any(),
                        response.headers,
                        dest_dir,
                        local,
                        chunk_size=chunk_size,
                        max_bytes=max_bytes,
                        sink=sink,
                        durable=durable,
                    )
            except BULK_ERRORS as exc:
                what = "download broke off" if answered else "GET failed"
                raise DexTransportError(f"{what}: {type(exc).__name__}") from exc

        return await self._retrying("GET artifact", once)

    async def create_commands(
        self, specs: Sequence[CommandSpec | Mapping[str, Any]]
    ) -> list[CreatedCommand]:
        """Start commands on up to 10 devices; never sends the same create twice blindly.

        See the module docstring for what happens when the answer is lost.
        """
        parsed = _validate_specs(specs)
        body = {"commands": [spec.to_wire() for spec in parsed]}
        url = self._url("dex", "commands")
        budget = self.retry.start()
        resent_unsent = False
        while True:
            budget.attempts += 1
            mark = self._known.mark()
            since = datetime.now(UTC) - CLOCK_SKEW
            try:
                response = await self._send("POST", url, budget, json=body)
                result, _ = self._unwrap(response)
                created = _models(CreatedCommand, _rows(result, "commands"))
                if not created:  # a success that names nothing: Cloudflare acted, unseen
                    raise _UnreadableAnswer(response.status_code, [ApiMessage(0, "no commands")])
                self._known.learn(c.id for c in created)
                return created
            except _UnreadableAnswer as exc:
                return await self._reconcile(parsed, since, mark, exc)
            except DexRateLimitedError as exc:
                error: DexError = exc
            except DexApiError as exc:
                if exc.status == 503:
                    error = exc
                elif exc.status >= 500:
                    return await self._reconcile(parsed, since, mark, exc)
                else:
                    await self._raise_if_quota_spent(exc)
                    raise
            except DexTransportError as exc:
                if not was_not_sent(exc):
                    return await self._reconcile(parsed, since, mark, exc)
                if resent_unsent:
                    raise
                resent_unsent, error = True, exc
            delay = budget.next_delay(error)
            if delay is None:
                raise error
            log.info("create: %s, sending again in %.1fs", type(error).__name__, delay)
            await budget.wait(delay)
            if isinstance(error, DexRateLimitedError) and not error.has_retry_after:
                # Cloudflare's rate block says how long; a bare 429 may be the quota instead.
                await self._raise_if_quota_spent(error)

    async def _raise_if_quota_spent(self, exc: DexApiError) -> None:
        """After a 4xx on create: re-read the quota; 0 left means the quota was the cause,
        whatever code or message Cloudflare chose (both are undocumented)."""
        if isinstance(exc, DexQuotaExceededError):
            return
        try:
            quota = await self.get_quota()
        except DexError:
            log.info("create: %s, and the quota could not be re-read", type(exc).__name__)
            return
        if quota.remaining == 0:
            log.info("create: %s with 0 quota left: the quota is spent", type(exc).__name__)
            raise DexQuotaExceededError(exc.status, exc.errors, exc.messages) from exc

    # -- reconciling a create whose answer was lost ------------------------------------

    async def _reconcile(
        self, specs: list[CommandSpec], since: datetime, mark: int, cause: DexError
    ) -> list[CreatedCommand]:
        log.warning("create: %s; reconciling against the command list", type(cause).__name__)
        found: list[CreatedCommand] = []
        missing: list[str] = []
        claimed: set[str] = set()
        try:
            for spec in specs:
                candidates = [
                    c
                    async for c in self.iter_commands(
                        device_id=spec.device_id, command_type=spec.type, from_=since
                    )
                    if self._known.is_new(c.id, mark)
                    and c.id not in claimed
                    and could_be_ours(c, spec, since)
                ]
                if len(candidates) > 1:
                    raise DexAmbiguousWriteError(
                        f"create may have failed ({type(cause).__name__}); "
                        f"{len(candidates)} new {spec.type.value} commands on device "
                        f"{spec.device_id}, cannot tell which is ours"
                    ) from cause
                if not candidates:
                    missing.append(spec.device_id)
                    continue
                claimed.add(candidates[0].id)
                found.append(as_created(candidates[0]))
        except DexAmbiguousWriteError:
            raise
        except DexError as exc:
            raise DexAmbiguousWriteError(
                f"create may have failed ({type(cause).__name__}) and reconciling failed "
                f"({type(exc).__name__}); check the command list before sending again"
            ) from exc
        if not missing:
            log.info("create: reconciled %d command(s)", len(found))
            return found
        what = f"create may have failed ({type(cause).__name__})"
        if found:
            raise DexPartialWriteError(
                f"{what}; found commands for {len(found)} device(s), none for {missing}",
                found,
                missing,
            ) from cause
        raise DexAmbiguousWriteError(
            f"{what}; no matching command found yet for {missing}: "
            "check the command list before sending again"
        ) from cause

    # -- HTTP, the envelope and errors ---------------------------------------------------

    def _url(self, *segments: str) -> str:
        path = "/".join(quote(s, safe="") for s in ("accounts", self.account_id, *segments))
        return f"{self.base_url}/{path}"

    async def _get(
        self, url: str, params: dict[str, Any], *, bare_ok: bool = False
    ) -> tuple[Any, Any]:
        async def once(budget: RetryBudget) -> tuple[Any, Any]:
            return self._unwrap(await self._send("GET", url, budget, params=params), bare_ok)

        return await self._retrying("GET", once)

    async def _retrying(self, label: str, once: Callable[[RetryBudget], Awaitable[T]]) -> T:
        budget = self.retry.start()
        while True:
            budget.attempts += 1
            try:
                return await once(budget)
            except DexError as exc:
                delay = budget.next_delay(exc) if is_retryable_read_error(exc) else None
                if delay is None:
                    raise
                log.info("%s: %s, retry %d in %.1fs", label, exc, budget.attempts, delay)
                await budget.wait(delay)

    async def _send(
        self,
        method: str,
        url: str,
        budget: RetryBudget,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        await self._admit(budget)
        request = self._http.build_request(
            method,
            url,
            params=params,
            json=json,
            headers=self._headers("application/json"),
            timeout=self._timeout,
        )
        try:
            response = await self._http.send(request)
        except TRANSPORT_ERRORS as exc:
            raise DexTransportError(f"{method} failed: {type(exc).__name__}") from exc
        self._observe(response)
        return response

    async def _admit(self, budget: RetryBudget) -> None:
        """Wait for the rate limiter, no longer than the call's budget allows."""
        await self.limiter.acquire(max_wait=max(0.0, min(self.limiter.max_wait, budget.left())))

    def _headers(self, accept: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self._token.get_secret_value()}",
            "Accept": accept,
            "User-Agent": "dexbot",
        }

    def _observe(self, response: httpx.Response) -> None:
        # A 429 blocks every caller of this client for Retry-After (or a minute).
        if response.status_code == 429:
            after = parse_retry_after(response.headers.get("retry-after"))
            self.limiter.block_for(after if after is not None else 60.0)

    def _unwrap(
        self, response: httpx.Response, bare_ok: bool = False, *, content: bytes | None = None
    ) -> tuple[Any, Any]:
        """The one place the v4 envelope is read: ``(result, result_info)`` or an error."""
        raw = response.content if content is None else content
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not response.is_success:
            raise self._error(response, body, raw)
        if isinstance(body, dict) and "success" in body and ("result" in body or "errors" in body):
            if body.get("success") is not True:
                raise self._error(response, body, raw)
            # ``result`` is optional in the v4 envelope: a success without it reads as empty.
            return body.get("result"), body.get("result_info")
        if bare_ok and isinstance(body, dict):
            return body, None
        what = "empty answer" if not raw.strip() else "not a v4 envelope"
        raise _UnreadableAnswer(response.status_code, [ApiMessage(0, what)])

    def _error(self, response: httpx.Response, body: Any, raw: bytes) -> DexApiError:
        status = response.status_code
        if isinstance(body, dict):
            errors = api_messages(body.get("errors"))
            messages = api_messages(body.get("messages"))
        else:
            snippet = raw[:200].decode("utf-8", errors="replace")
            errors, messages = [ApiMessage(0, f"non-JSON answer: {snippet!r}")], []
        errors = [ApiMessage(e.code, self._scrub(e.message)) for e in errors]
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        return classify_error(status, errors, messages, retry_after, self.quota_signals)

    def _scrub(self, text: str) -> str:
        return text.replace(self._token.get_secret_value(), "[token]")


# -- helpers -----------------------------------------------------------------------------


def _validate_specs(specs: Sequence[CommandSpec | Mapping[str, Any]]) -> list[CommandSpec]:
    if not specs:
        raise DexValidationError("at least 1 device per command call; got 0")
    if len(specs) > MAX_DEVICES_PER_CREATE:
        raise DexValidationError(
            f"at most {MAX_DEVICES_PER_CREATE} devices per command call; got {len(specs)}"
        )
    parsed = [_coerce_spec(spec) for spec in specs]
    keys = [(s.device_id, s.registration_id, s.type) for s in parsed]
    if len(set(keys)) != len(keys):
        raise DexValidationError("the same command twice for one device in one call")
    return parsed


def _coerce_spec(spec: CommandSpec | Mapping[str, Any]) -> CommandSpec:
    if isinstance(spec, CommandSpec):
        return spec
    try:
        data = dict(spec)
        kind = CommandType(str(data.get("type")))
        if isinstance(data.get("args"), Mapping):
            # Validate against this type's args, not the first union member that fits.
            data["args"] = ARGS_FOR_TYPE[kind].model_validate(data["args"])
        return CommandSpec.model_validate(data)
    except ValidationError as exc:
        raise DexValidationError(f"invalid command: {_describe(exc)}") from None
    except (TypeError, ValueError) as exc:
        raise DexValidationError(f"invalid command: {exc}") from None


def _describe(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in exc.errors()
    )


def _page_params(page: int, per_page: int) -> dict[str, Any]:
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise DexValidationError(
            f"per_page must be 1..{MAX_PER_PAGE} (Cloudflare's maximum); got {per_page}"
        )
    if page < 1:
        raise DexValidationError(f"page must be >= 1; got {page}")
    return {"page": page, "per_page": per_page}


def _require_id(value: str, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DexValidationError(f"{name} must be a non-empty string")
    return value


def _enum_value(value: StrEnum | str, enum: type[StrEnum], name: str) -> str:
    try:
        return enum(value).value
    except ValueError:
        allowed = ", ".join(m.value for m in enum)
        raise DexValidationError(f"{name} must be one of {allowed}; got {value!r}") from None


def _rfc3339(value: datetime, name: str) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise DexValidationError(f"{name} must be timezone-aware")
    text = value.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


def newest_first(commands: list[Command]) -> list[Command]:
    """Commands sorted by ``created_date``, newest first (rows without a date last)."""
    oldest = datetime.min.replace(tzinfo=UTC)
    return sorted(commands, key=lambda c: c.created_date or oldest, reverse=True)


def _rows(result: Any, key: str) -> list[Any]:
    rows = result.get(key) if isinstance(result, dict) else None
    return rows if isinstance(rows, list) else []


def _info(raw: Any, page: int, per_page: int, count: int) -> ResultInfo:
    info = ResultInfo.model_validate(raw) if isinstance(raw, dict) else ResultInfo()
    return info.model_copy(
        update={
            "page": info.page or page,
            "per_page": info.per_page or per_page,
            "count": count if info.count is None else info.count,
        }
    )


def _models(model: type[M], rows: list[Any]) -> list[M]:
    try:
        return [model.model_validate(row) for row in rows]
    except ValidationError as exc:
        raise _UnreadableAnswer(
            200, [ApiMessage(0, f"unexpected answer: {_describe(exc)}")]
        ) from None


async def _all_pages(
    fetch: Callable[[int], Awaitable[Page[ItemT]]], key: Callable[[ItemT], str]
) -> AsyncIterator[ItemT]:
    seen: set[str] = set()
    number = 1
    while True:
        page = await fetch(number)
        for item in page.items:
            if key(item) not in seen:  # rows shift when commands are created meanwhile
                seen.add(key(item))
                yield item
        if not page.items or not page.has_more:
            return
        number += 1
