"""Deliver one rendered message to Slack: through an incoming webhook, or with a bot token to a
channel (the only mode that returns the message's ts, so follow-ups can be threaded under it).

send() never raises for Slack or network trouble. It returns a DeliveryResult saying whether trying
again later may help (rate limits, 5xx answers, connection errors once this send's retries are
spent) or not (a bad token, an unknown channel, a deleted webhook): the outbox keeps the alert and
the deliverer decides. Error texts never contain the bot token or the webhook URL's secret path.

Retries are slack_sdk's own retry handlers, with two changes made by small subclasses: their waits
go through an injectable ``sleep`` (tests need not wait for real), and a Retry-After longer than
MAX_RETRY_AFTER_SECONDS is not waited for (the send fails as retryable rather than block a run).
All handlers share slack_sdk's per-request RetryState, so ``max_retries`` bounds the retries of one
send whatever mix of 429s, 5xx answers and connection errors it meets.
"""

from __future__ import annotations

import logging
import os
import re
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.client import HTTPException
from urllib.error import URLError
from urllib.parse import urlsplit

from slack_sdk import WebClient, WebhookClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry import (
    BackoffRetryIntervalCalculator,
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    RetryHandler,
    RetryIntervalCalculator,
)
from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler

log = logging.getLogger(__name__)

DEFAULT_API_BASE_URL = WebClient.BASE_URL  # https://slack.com/api/
MAX_RETRY_AFTER_SECONDS = 30.0  # a longer Retry-After fails the send (retryable) instead of blocking the run
BACKOFF_FACTOR = 0.5  # waits before retry n (0-based) after a 5xx or connection error: 0.5 * 2**n + up to 1 s jitter
MAX_BACKOFF_SECONDS = 8.0  # ... never more than this
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# Web API error codes that say "not now" rather than "never" (https://docs.slack.dev/reference/methods/chat.postMessage).
RETRYABLE_API_ERRORS = frozenset({
    "ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable", "request_timeout",
})
_TOKEN = re.compile(r"xox[a-z]-[A-Za-z0-9-]+")
_WEBHOOK_PATH = re.compile(r"/services/[^\s'\"<>]+")


@dataclass(frozen=True)
class SlackConfig:
    webhook_url: str | None = field(default=None, repr=False)  # SLACK_WEBHOOK_URL (secret)
    bot_token: str | None = field(default=None, repr=False)  # SLACK_BOT_TOKEN (secret)
    channel: str | None = None  # SLACK_CHANNEL: a channel id (C0123...) or name
    base_url: str | None = None  # FINOPS_SLACK_BASE_URL: Web API base, e.g. http://127.0.0.1:9999/api/ (tests, proxies)
    max_retries: int = 3  # retries per send on 429 / 5xx / connection errors
    timeout_seconds: int = 10

    def __post_init__(self):
        if self.max_retries < 0:
            raise ValueError(f"max_retries={self.max_retries} must be 0 or more")
        if self.timeout_seconds <= 0:
            raise ValueError(f"timeout_seconds={self.timeout_seconds} must be more than 0")

    @property
    def mode(self) -> str | None:
        """"bot" with a bot token and a channel (preferred: threads work), else "webhook", else None."""
        if self.bot_token and self.channel:
            return "bot"
        if self.webhook_url:
            return "webhook"
        return None

    def unconfigured_reason(self) -> str | None:
        """Why nothing can be sent with this configuration, in words a person can act on; None when it can."""
        mode = self.mode
        if mode == "bot":
            if self.base_url and not _is_http(self.base_url):
                return "FINOPS_SLACK_BASE_URL is not an http(s) URL"
            return None
        if mode == "webhook":
            return None if _is_http(self.webhook_url) else "SLACK_WEBHOOK_URL is not an http(s) URL"
        if self.bot_token:
            return "SLACK_BOT_TOKEN is set but SLACK_CHANNEL is not: set SLACK_CHANNEL (or use SLACK_WEBHOOK_URL)"
        if self.channel:
            return "SLACK_CHANNEL is set but SLACK_BOT_TOKEN is not: set SLACK_BOT_TOKEN (or use SLACK_WEBHOOK_URL)"
        return "no Slack configured: set SLACK_WEBHOOK_URL, or SLACK_BOT_TOKEN and SLACK_CHANNEL"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SlackConfig:
        """SLACK_WEBHOOK_URL, SLACK_BOT_TOKEN, SLACK_CHANNEL and FINOPS_SLACK_BASE_URL; blank means unset."""
        env = os.environ if environ is None else environ

        def text(name: str) -> str | None:
            return (env.get(name) or "").strip() or None

        return cls(webhook_url=text("SLACK_WEBHOOK_URL"), bot_token=text("SLACK_BOT_TOKEN"),
                   channel=text("SLACK_CHANNEL"), base_url=text("FINOPS_SLACK_BASE_URL"))


@dataclass(frozen=True)
class DeliveryResult:
    ok: bool
    ts: str | None = None  # Slack message ts (bot mode), for threading follow-ups
    error: str | None = None  # short, human-readable, without the token or the webhook URL
    retryable: bool = False  # True: 429 / 5xx / connection trouble after the retries; False: e.g. invalid_auth


def _is_http(url: str | None) -> bool:
    return bool(url) and urlsplit(url).scheme in ("http", "https") and bool(urlsplit(url).netloc)


# --------------------------------------------------------------------------- retry handlers


def _retry_after_seconds(response) -> float:
    """The Retry-After header in seconds (1 when missing or not a number, as slack_sdk assumes)."""
    headers = getattr(response, "headers", None) or {}
    for name, value in headers.items():
        if name.lower() == "retry-after":
            value = value[0] if isinstance(value, list | tuple) and value else value
            try:
                return max(float(value), 0.0)
            except (TypeError, ValueError):
                return 1.0
    return 1.0


class _InjectedWait:
    """Waits through the sender's ``wait`` instead of time.sleep, so tests can record the waits."""

    _wait: Callable[[float], None]

    def _seconds(self, state, response) -> float:
        return self.interval_calculator.calculate_sleep_duration(state.current_attempt)

    def prepare_for_next_attempt(self, *, state, request, response=None, error=None) -> None:
        state.next_attempt_requested = True
        self._wait(self._seconds(state, response))
        state.increment_current_attempt()


class _RateLimitRetry(_InjectedWait, RateLimitErrorRetryHandler):
    """HTTP 429: wait exactly Retry-After (slack_sdk adds up to 1 s of jitter; one sender needs none)."""

    def __init__(self, max_retry_count: int, wait: Callable[[float], None]):
        super().__init__(max_retry_count=max_retry_count)
        self._wait = wait

    def _can_retry(self, *, state, request, response=None, error=None) -> bool:
        return super()._can_retry(state=state, request=request, response=response, error=error) \
            and _retry_after_seconds(response) <= MAX_RETRY_AFTER_SECONDS

    def _seconds(self, state, response) -> float:
        return _retry_after_seconds(response)


class _ServerErrorRetry(_InjectedWait, ServerErrorRetryHandler):
    """500, 502, 503, 504 (slack_sdk's handler covers 500 and 503 only), with backoff."""

    def __init__(self, max_retry_count: int, interval_calculator: RetryIntervalCalculator, wait: Callable[[float], None]):
        super().__init__(max_retry_count=max_retry_count, interval_calculator=interval_calculator)
        self._wait = wait

    def _can_retry(self, *, state, request, response=None, error=None) -> bool:
        return response is not None and response.status_code in (500, 502, 503, 504)


class _ConnectionRetry(_InjectedWait, ConnectionErrorRetryHandler):
    """Refused, reset or dropped connections (slack_sdk's list: URLError, ConnectionResetError,
    RemoteDisconnected), with backoff. A read timeout is not retried here: Slack may have posted."""

    def __init__(self, max_retry_count: int, interval_calculator: RetryIntervalCalculator, wait: Callable[[float], None]):
        super().__init__(max_retry_count=max_retry_count, interval_calculator=interval_calculator)
        self._wait = wait


class BoundedBackoff(BackoffRetryIntervalCalculator):
    """slack_sdk's exponential backoff with jitter, capped: factor * 2**attempt + [0, 1) s, at most ``cap``."""

    def __init__(self, backoff_factor: float = BACKOFF_FACTOR, cap: float = MAX_BACKOFF_SECONDS):
        super().__init__(backoff_factor=backoff_factor)
        self.cap = cap

    def calculate_sleep_duration(self, current_attempt: int) -> float:
        return min(self.cap, super().calculate_sleep_duration(current_attempt))


# --------------------------------------------------------------------------- sender


class SlackSender:
    """Sends rendered messages ({"text": ..., "blocks": [...]}) with one SlackConfig.

    ``sleep`` is what every retry wait goes through; ``backoff`` computes the waits after 5xx answers
    and connection errors (default BoundedBackoff(); tests pass a fixed tiny interval or a recording
    ``sleep``). The Slack client is made on first use and reused.
    """

    def __init__(self, config: SlackConfig, sleep: Callable[[float], None] = time.sleep,
                 backoff: RetryIntervalCalculator | None = None):
        self.config = config
        self._sleep = sleep
        self._backoff = backoff or BoundedBackoff()
        self._local = threading.local()  # retries of the current send, per thread
        self._client: WebClient | WebhookClient | None = None

    def send(self, message: dict, thread_ts: str | None = None) -> DeliveryResult:
        """Post the message once (retrying 429 / 5xx / connection errors up to config.max_retries).
        ``thread_ts`` posts it as a reply in that thread (bot mode; webhooks cannot thread and ignore it)."""
        reason = self.config.unconfigured_reason()
        if reason:
            return DeliveryResult(ok=False, error=reason)
        self._local.retries = 0
        try:
            if self.config.mode == "bot":
                return self._post_message(message, thread_ts)
            return self._post_webhook(message)
        except SlackApiError as exc:
            return self._api_failure(exc)
        except (OSError, HTTPException) as exc:  # URLError, refused / reset / dropped, TimeoutError, SSL
            return self._connection_failure(exc)
        except SlackClientError as exc:  # e.g. an invalid URL or proxy: configuration, not transient
            return DeliveryResult(ok=False, error=self._clip(f"Slack client error: {exc}"))
        except Exception as exc:  # an alert that cannot be sent must not crash the run that sends it
            log.warning("unexpected error sending to Slack", exc_info=True)
            return DeliveryResult(ok=False, error=self._clip(f"unexpected error sending to Slack: {type(exc).__name__}: {exc}"))

    # -- the two modes

    def _post_message(self, message: dict, thread_ts: str | None) -> DeliveryResult:
        response = self._web_client().chat_postMessage(
            channel=self.config.channel, text=message.get("text") or "", blocks=message.get("blocks") or None,
            thread_ts=thread_ts,
        )  # raises SlackApiError unless ok
        return DeliveryResult(ok=True, ts=response.get("ts"))

    def _post_webhook(self, message: dict) -> DeliveryResult:
        response = self._webhook_client().send(text=message.get("text") or "", blocks=message.get("blocks") or None)
        if response.status_code == 200:
            return DeliveryResult(ok=True)
        body = " ".join(str(response.body or "").split())[:100] or "no body"
        return DeliveryResult(
            ok=False, retryable=response.status_code in RETRYABLE_STATUSES,
            error=self._clip(f"Slack webhook {self._where()} answered HTTP {response.status_code}: {body}{self._after()}"),
        )

    def _retry_handlers(self) -> list[RetryHandler]:
        n = self.config.max_retries
        return [
            _RateLimitRetry(n, self._wait),
            _ServerErrorRetry(n, self._backoff, self._wait),
            _ConnectionRetry(n, self._backoff, self._wait),
        ]

    def _web_client(self) -> WebClient:
        if self._client is None:
            self._client = WebClient(token=self.config.bot_token, base_url=self.config.base_url or DEFAULT_API_BASE_URL,
                                     timeout=self.config.timeout_seconds, retry_handlers=self._retry_handlers())
        return self._client

    def _webhook_client(self) -> WebhookClient:
        if self._client is None:
            self._client = WebhookClient(self.config.webhook_url, timeout=self.config.timeout_seconds,
                                         retry_handlers=self._retry_handlers())
        return self._client

    def _wait(self, seconds: float) -> None:
        self._local.retries = getattr(self._local, "retries", 0) + 1
        self._sleep(seconds)

    # -- failures, described without secrets

    def _api_failure(self, exc: SlackApiError) -> DeliveryResult:
        response = exc.response
        status = getattr(response, "status_code", None)
        data = getattr(response, "data", None)
        code = data.get("error") if isinstance(data, dict) else None
        if not isinstance(code, str) or code.startswith("Received a response in a non-JSON format"):
            code = None  # slack_sdk's stand-in for an HTML / plain-text error page
        retryable = (status in RETRYABLE_STATUSES) or (code in RETRYABLE_API_ERRORS)
        what = code or f"HTTP {status}"
        detail = f" (HTTP {status})" if code and status != 200 else ""
        return DeliveryResult(ok=False, retryable=retryable,
                              error=self._clip(f"Slack chat.postMessage failed: {what}{detail}{self._after()}"))

    def _connection_failure(self, exc: BaseException) -> DeliveryResult:
        reason = exc.reason if isinstance(exc, URLError) else exc
        if isinstance(exc, TimeoutError):  # a bare timeout comes from reading the answer (connecting: URLError)
            text = (f"Slack at {self._where()} did not answer within {self.config.timeout_seconds} s "
                    "(the message may have been posted)")
        else:
            text = f"could not reach Slack at {self._where()}{self._after()}: {str(reason) or type(reason).__name__}"
        retryable = not isinstance(reason, ssl.SSLCertVerificationError)  # a bad certificate stays bad
        return DeliveryResult(ok=False, retryable=retryable, error=self._clip(text))

    def _after(self) -> str:
        retries = getattr(self._local, "retries", 0)
        return f" after {retries} {'retry' if retries == 1 else 'retries'}" if retries else ""

    def _where(self) -> str:
        """Scheme, host and port of the endpoint; a webhook's secret path is shown as ***."""
        if self.config.mode == "bot":
            parts = urlsplit(self.config.base_url or DEFAULT_API_BASE_URL)
            return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path}"
        parts = urlsplit(self.config.webhook_url or "")
        return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}/***"

    def _clip(self, text: str) -> str:
        return mask_secrets(text, self.config)[:500]


def mask_secrets(text: str, config: SlackConfig | None = None) -> str:
    """``text`` with the configured token and webhook URL, and anything shaped like a Slack token or
    webhook path, replaced by ***."""
    if config is not None:
        for secret in (config.bot_token, config.webhook_url, urlsplit(config.webhook_url or "").path):
            if secret and len(secret) > 3:
                text = text.replace(secret, "***")
    text = _TOKEN.sub("xox*-***", text)
    return _WEBHOOK_PATH.sub("/services/***", text)
