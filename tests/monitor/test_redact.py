"""The one masker: no password or credential query value survives, the rest of the URL does."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from monitor.redact import MASK, mask_text, mask_url

SCHEMES = st.sampled_from(["redis", "rediss", "http", "https", "kafka", "postgres", "clickhouse"])
HOSTS = st.sampled_from(["127.0.0.1", "cache.internal", "[::1]", "ch-0.example.com"])
USERS = st.one_of(st.just(""), st.text("abcdefghijklmnopqrstuvwxyz_.-", min_size=1, max_size=10))
# Any printable text, also characters that are special in URLs, as a user would paste it.
PASSWORDS = st.text(
    st.characters(min_codepoint=33, max_codepoint=0x2FF, blacklist_characters="\x7f"),
    min_size=6,
    max_size=24,
)


@st.composite
def urls_with_password(draw: st.DrawFn) -> tuple[str, str, str]:
    """(url, password, password as written in the url: raw or percent-encoded)."""
    password = draw(PASSWORDS)
    encoded = draw(st.booleans())
    written = quote(password, safe="") if encoded else password
    if not encoded:
        # raw passwords cannot hold the characters that end a URL (or a URL inside a text)
        assume(not any(c in "?#'\"<>`" or c.isspace() for c in password))
    port = draw(st.one_of(st.just(""), st.integers(1, 65535).map(lambda p: f":{p}")))
    path = draw(st.sampled_from(["", "/", "/0", "/monitor", "/api/v2/alerts"]))
    head, tail = f"{draw(SCHEMES)}://{draw(USERS)}:", f"@{draw(HOSTS)}{port}{path}"
    # a password that is also the user or host name would be visible as that, not leaked
    assume(not any(p in head + tail for p in (password, written)))
    return head + written + tail, password, written


@given(urls_with_password())
def test_the_password_never_appears_in_a_masked_url(case: tuple[str, str, str]) -> None:
    url, password, written = case
    masked = mask_url(url)
    assert written not in masked and password not in masked
    assert MASK in masked


@given(
    urls_with_password(),
    st.sampled_from(["failed: {}", "cannot reach '{}' (refused)", "{}.", "<{}>"]),
)
def test_the_password_never_appears_in_a_masked_message(
    case: tuple[str, str, str], template: str
) -> None:
    url, password, written = case
    message = template.format(url)
    assume(password not in template and written not in template)
    masked = mask_text(message)
    assert written not in masked and password not in masked


@given(
    st.sampled_from(["token", "access_token", "password", "api-key", "SIG", "apikey"]),
    st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=8, max_size=30),
)
def test_credential_query_values_are_masked(key: str, value: str) -> None:
    masked = mask_url(f"https://hooks.example/alert?channel=ops&{key}={value}&x=1")
    assert value not in masked
    assert masked == f"https://hooks.example/alert?channel=ops&{key}={MASK}&x=1"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://:pw@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),  # empty user
        ("rediss://default:pw@cache:6380", "rediss://default:***@cache:6380"),
        ("http://u:p@ss@h:1/x", "http://u:***@h:1/x"),  # unencoded @ in the password
        ("http://u:pa/ss@host/path", "http://u:***@host/path"),  # unencoded / in the password
        ("redis://user@host:1/0", "redis://user@host:1/0"),  # a user alone is not a secret
        ("chdb://.monitor-data/clickhouse", "chdb://.monitor-data/clickhouse"),
        ("https://ch:8443/monitor?database=x", "https://ch:8443/monitor?database=x"),
        ("127.0.0.1:9092", "127.0.0.1:9092"),
        ("", ""),
    ],
)
def test_known_urls(url: str, expected: str) -> None:
    assert mask_url(url) == expected


def test_known_secret_values_are_masked_in_free_text() -> None:
    text = "SASL authentication failed for alice with hunter2 at kafka://b:9093"
    assert (
        mask_text(text, secrets=["hunter2", None, ""])
        == "SASL authentication failed for alice with *** at kafka://b:9093"
    )
