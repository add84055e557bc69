"""Credentials are masked before text or mappings reach logs, errors or API responses."""

from __future__ import annotations

import pytest

from graflow.security.redaction import MASK, is_sensitive_key, redact, redact_mapping


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("redis://user:pass@host:6379/0", "redis://user:***@host:6379/0"),
        ("rediss://:s3cret@10.0.0.1:6380", "rediss://:***@10.0.0.1:6380"),
        ("connect to redis://default:p%40ss@cache/1 failed", "connect to redis://default:***@cache/1 failed"),
        ("postgresql://app:pw@db/app and redis://u:x@r", "postgresql://app:***@db/app and redis://u:***@r"),
        ("https://hooks.example/path?token=abc123&x=1", "https://hooks.example/path?token=***&x=1"),
        ("password=hunter2", "password=***"),
        ("PASSWORD: hunter2 rest", "PASSWORD: *** rest"),
        ("GRAFLOW_SECRET_KEY=0123456789abcdef", "GRAFLOW_SECRET_KEY=***"),
        ("client_secret='a b c'", "client_secret='***'"),
        ('{"api_key": "sk-123", "n": 1}', '{"api_key": "***", "n": 1}'),
        ("apikey=xyz; other=1", "apikey=***; other=1"),
        ("X-Api-Key: abcdef", "X-Api-Key: ***"),
        ("access_token=ey.J.x", "access_token=***"),
        ("Authorization: Bearer eyJhbGciOi.abc-def", "Authorization: Bearer ***"),
        ("authorization: basic dXNlcjpwYXNz", "authorization: basic ***"),
    ],
)
def test_redact_masks_credentials(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "redis://localhost:6379/0",
        "redis://cache:6379/0 is down",
        "max_tokens=100",
        "the token expired at noon",
        "no secrets here",
        "",
    ],
)
def test_redact_leaves_text_without_credentials_alone(text: str) -> None:
    assert redact(text) == text


def test_redacted_text_never_contains_the_secret() -> None:
    secret = "Zq9-unique-Secret-Value"
    lines = [
        f"redis://admin:{secret}@h/0",
        f"password={secret}",
        f'{{"secret": "{secret}"}}',
        f"Authorization: Bearer {secret}",
        f"GRAFLOW_SECRET_KEY: {secret}",
    ]
    for line in lines:
        assert secret not in redact(line), line


def test_redact_mapping_masks_sensitive_keys_and_redacts_strings_deeply() -> None:
    config = {
        "host": "cache",
        "password": "hunter2",
        "username": "app",
        "url": "redis://app:hunter2@cache/0",
        "nested": {"api_key": "sk-1", "items": ["token=abc", ("x", "secret=y")]},
        "count": 3,
        "client_secret": None,
    }
    out = redact_mapping(config)
    assert out == {
        "host": "cache",
        "password": MASK,
        "username": "app",
        "url": "redis://app:***@cache/0",
        "nested": {"api_key": MASK, "items": ["token=***", ("x", "secret=***")]},
        "count": 3,
        "client_secret": None,
    }
    assert config["password"] == "hunter2"  # the input is not changed


@pytest.mark.parametrize(
    ("key", "sensitive"),
    [
        ("password", True),
        ("redis_password", True),
        ("SECRET_KEY", True),
        ("api-key", True),
        ("auth_token", True),
        ("credentials", True),
        ("max_tokens", False),
        ("host", False),
        (42, False),
    ],
)
def test_sensitive_key_names(key: object, sensitive: bool) -> None:
    assert is_sensitive_key(key) is sensitive
