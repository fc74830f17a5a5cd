"""External channels through apprise: SMS gateways, WeCom/DingTalk bots, webhooks, e-mail.

One apprise URL per delivery, so a dead gateway holds up only its own messages. apprise calls
block (HTTP, SMTP): the pusher runs them in its worker threads, each bounded by `timeout_s`.
apprise URLs often carry tokens (a bot key as the "host", a password, a path): they are only ever
logged through `redact`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import urlsplit

import apprise

from dispatch.push import text
from dispatch.push.base import DeliveryError, Outgoing, UndeliverableError

log = logging.getLogger(__name__)

# Schemes whose host is a server name, not a secret; any other host (tgram://BOTTOKEN/..., wecombot://KEY)
# is shown as a hash.
_HOST_IS_SERVER = frozenset({"json", "jsons", "form", "forms", "xml", "xmls", "mailto", "mailtos"})

_NOTIFY_TYPE = {"info": apprise.NotifyType.INFO, "warning": apprise.NotifyType.WARNING,
                "critical": apprise.NotifyType.FAILURE}


def redact(url: str) -> str:
    """A loggable name of an apprise URL: scheme and host, never path, user, password or query."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if not scheme.isalnum():
        scheme = "?"
    if scheme in _HOST_IS_SERVER:
        try:
            parts = urlsplit(url)
            host, port = parts.hostname, parts.port
        except ValueError:
            host, port = None, None
        if host:
            return f"{scheme}://{host}" + (f":{port}" if port else "")
    return f"{scheme}://#{fingerprint(url)[:8]}"


def fingerprint(url: str) -> str:
    """A stable name of a URL that does not reveal it (what the push ledger stores)."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


class AppriseChannel:
    kind = "apprise"

    def __init__(self, *, timeout_s: float, building_name: Callable[[str | None], str | None] = lambda _b: None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.timeout_s = timeout_s
        # apprise logs the target URL (path: tokens) at DEBUG and a line per message at INFO, and urllib3
        # (under requests) each request's path at DEBUG; their warnings (status codes, connection errors)
        # are the useful part. A level set explicitly by the operator wins.
        for name in ("apprise", "urllib3"):
            quiet = logging.getLogger(name)
            if quiet.level == logging.NOTSET:
                quiet.setLevel(logging.WARNING)
        self._building_name = building_name
        self._clock = clock

    def ready(self) -> bool:
        return True

    def warm(self) -> None:
        """Load apprise's plugins (~0.1 s) before the first alert needs them."""
        apprise.Apprise.instantiate("json://localhost")

    def deliver(self, address: str, outgoing: Outgoing) -> None:
        plugin = apprise.Apprise.instantiate(address)
        if plugin is None:
            raise UndeliverableError(f"apprise cannot use the URL {redact(address)}")
        # Both timeouts bound the call: requests' connect and read; SMTP uses the connect timeout.
        plugin.socket_connect_timeout = self.timeout_s
        plugin.socket_read_timeout = self.timeout_s
        message = outgoing.message
        notifier = apprise.Apprise()
        notifier.add(plugin)
        ok = notifier.notify(
            body=text.body(message, self._clock(), building_name=self._building_name(message.building)),
            title=text.title(message),
            notify_type=_NOTIFY_TYPE.get(message.severity, apprise.NotifyType.INFO),
        )
        if not ok:
            raise DeliveryError(f"{redact(address)} did not take the message")

    def close(self) -> None:
        pass
