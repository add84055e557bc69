"""Masking of credentials in text and mappings before they reach a log line, an error message or an API response.

:func:`redact` masks, in free text:

* the password of a URL (``redis://user:pass@host`` → ``redis://user:***@host``),
* the value after a sensitive key written as ``key=value``, ``key: value`` or ``"key": "value"``, where the key
  contains ``password``, ``passwd``, ``pwd``, ``token``, ``secret``, ``api_key``/``apikey``, ``access_key``,
  ``private_key`` or ``credential`` (``GRAFLOW_SECRET_KEY=...`` included; ``max_tokens`` is not a credential),
* bearer and basic credentials (``Authorization: Bearer abc`` → ``Authorization: Bearer ***``).

Masking errs towards hiding too much. Standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

MASK: Final = "***"

_SENSITIVE_WORDS: Final = (
    r"(?:password|passwd|pwd|token(?!s)|secret|api[_-]?key|access[_-]?key|private[_-]?key|credential)"
)
_SENSITIVE_KEY_RE: Final = re.compile(rf"(?i){_SENSITIVE_WORDS}")

# scheme://user:password@  (the user part may be empty: redis://:password@host)
_URL_PASSWORD_RE: Final = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s/]*)(?P<at>@)")
_AUTH_SCHEME_RE: Final = re.compile(r"(?i)(?P<head>\b(?:bearer|basic)\s+)(?P<cred>[A-Za-z0-9._~+/=-]{4,})")
_KEY_VALUE_RE: Final = re.compile(
    rf"""(?ix)
    (?P<key>["']?[\w.-]*{_SENSITIVE_WORDS}[\w.-]*["']?)   # the key, maybe quoted
    (?P<sep>\s*[=:]\s*)
    (?P<value>"[^"]*"|'[^']*'|[^\s&,;}}\])]+)             # a quoted value, or up to a delimiter
    """
)


def _mask_value(match: re.Match[str]) -> str:
    value = match.group("value")
    if value[:1] in {'"', "'"}:
        masked = value[0] + MASK + value[0]
    elif value.lower().startswith(("bearer", "basic")):
        masked = value  # handled by the auth-scheme pattern, which keeps the scheme word readable
    else:
        masked = MASK
    return match.group("key") + match.group("sep") + masked


def redact(text: str) -> str:
    """Return ``text`` with passwords, tokens, secrets and API keys replaced by ``***``."""
    if not text:
        return text
    text = _URL_PASSWORD_RE.sub(lambda m: m.group("head") + MASK + m.group("at"), text)
    text = _AUTH_SCHEME_RE.sub(lambda m: m.group("head") + MASK, text)
    return _KEY_VALUE_RE.sub(_mask_value, text)


def is_sensitive_key(key: object) -> bool:
    """Whether a mapping key names a credential."""
    return isinstance(key, str) and _SENSITIVE_KEY_RE.search(key) is not None


def _redact_any(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return redact_mapping(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_redact_any(item) for item in value) if type(value) in (list, tuple) else value
    return value


def redact_mapping(mapping: Mapping[Any, Any]) -> dict[Any, Any]:
    """A copy of ``mapping`` fit for logs: values of sensitive keys become ``***``, strings are :func:`redact`-ed.

    Nested mappings, lists and tuples are handled; other values are kept as they are. A sensitive key whose value is
    None or empty keeps it, so a log still shows that no credential was configured.
    """
    out: dict[Any, Any] = {}
    for key, value in mapping.items():
        if is_sensitive_key(key) and value not in (None, "", b""):
            out[key] = MASK
        else:
            out[key] = _redact_any(value)
    return out


__all__ = ["MASK", "is_sensitive_key", "redact", "redact_mapping"]
