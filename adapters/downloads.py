"""Fetching a file a person shared with the bot: only from the platform's own hosts, streamed, capped in size."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

import aiohttp

from conversations.events import FileUnavailable

TIMEOUT_SECONDS = 30.0
CHUNK_BYTES = 64 * 1024
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def host_allowed(url: str, hosts: tuple[str, ...]) -> bool:
    """Whether `url` points at one of `hosts` (".example.com" also takes its subdomains) over HTTPS;
    plain HTTP only on loopback, where the tests' fakes listen."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host or parts.scheme not in ("https", "http") or (parts.scheme == "http" and host not in LOOPBACK):
        return False
    return any(host == h.lstrip(".") or (h.startswith(".") and host.endswith(h)) for h in hosts)


async def fetch_capped(session: aiohttp.ClientSession, url: str, *, limit: int,
                       headers: Mapping[str, str] | None = None,
                       web_page_means: str = "the link answered with a web page, not the file") -> bytes | None:
    """The file's bytes, or None when it holds more than `limit`; never more than the limit in memory.
    Raises FileUnavailable, with a reason fit to show a person, when the platform will not hand it over."""
    try:
        async with session.get(url, headers=dict(headers or {}),
                               timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)) as response:
            if response.status in (401, 403, 404, 410):
                raise FileUnavailable("the link has expired or the bot may not read the file")
            if response.status != 200:
                raise FileUnavailable(f"the download answered HTTP {response.status}")
            if response.content_type == "text/html":  # a sign-in page, not a CSV
                raise FileUnavailable(web_page_means)
            if response.content_length is not None and response.content_length > limit:
                return None
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.content.iter_chunked(CHUNK_BYTES):
                size += len(chunk)
                if size > limit:
                    return None
                chunks.append(chunk)
            return b"".join(chunks)
    except (aiohttp.ClientError, TimeoutError) as failure:
        raise FileUnavailable(f"the download failed: {type(failure).__name__}") from None
