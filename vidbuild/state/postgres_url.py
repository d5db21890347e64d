"""A PostgreSQL state's URL: checked before a connection is tried, and shown without its password.

The password may sit in the authority (``postgresql://user:secret@host/db``) or in a
``password=`` parameter, percent-encoded or not (libpq's connection URIs, PostgreSQL docs
"Connection Strings"); every spelling is hidden wherever a URL is printed.
"""

from __future__ import annotations

from vidbuild.errors import UsageError


def scrub_url(url: str) -> str:
    """``url`` with its password (in the authority or a ``password=`` parameter) shown as ***."""
    return scrub(url, url)


def scrub(text: str, url: str) -> str:
    """``text`` (a message that may quote ``url``) with the URL's password shown as ***, however
    the URL spells it (percent-encoded or not). Parsed by hand: a malformed URL, which a parser
    refuses, must be scrubbed all the same."""
    for secret in sorted(_passwords(url), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _passwords(url: str) -> set[str]:
    from urllib.parse import unquote

    rest = url.split("://", 1)[-1]
    query_at = rest.find("?")
    authority_end = query_at if query_at >= 0 else len(rest)
    found = set()
    at = rest.rfind("@", 0, authority_end)
    if at >= 0 and ":" in rest[:at]:
        found.add(rest[:at].split(":", 1)[1])
    if query_at >= 0:
        for parameter in rest[query_at + 1:].split("&"):
            name, _, value = parameter.partition("=")
            if name.strip() == "password":
                found.add(value)
    return {spelling for secret in found if secret for spelling in (secret, unquote(secret)) if spelling}


def check_url(url: str) -> None:
    """UsageError unless ``url`` is a PostgreSQL URL (postgresql:// or postgres://) that libpq
    can parse. Needs psycopg (UsageError naming the extra to install without it)."""
    if not url.startswith(("postgresql://", "postgres://")):
        raise UsageError(f"--state-url / VIDBUILD_STATE_URL must be a postgresql:// URL, got "
                         f"{scrub_url(url)!r}")
    try:
        import psycopg
    except ImportError as exc:
        raise UsageError("a PostgreSQL state (--state-url) needs psycopg: "
                         "pip install 'vidbuild[postgres]'") from exc
    try:
        psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.Error as exc:
        raise UsageError(f"--state-url / VIDBUILD_STATE_URL {scrub_url(url)!r} is not a valid "
                         f"PostgreSQL URL: {scrub(str(exc).strip(), url)}") from exc
