"""Session cookies and CSRF tokens: signed, key-free, bound to one sign-in."""

from __future__ import annotations

import logging
import uuid

from licensing_api.dashboard.sessions import SessionCodec
from licensing_api.settings import load_settings

SECRET = "x" * 40


def test_a_session_cookie_round_trips_and_holds_only_ids_and_issue_time():
    codec = SessionCodec(SECRET)
    customer_id, key_id = uuid.uuid4(), uuid.uuid4()
    session, cookie = codec.issue(customer_id, key_id)
    assert codec.decode(cookie) == session
    assert (session.customer_id, session.key_id) == (customer_id, key_id)
    payload = cookie.split(".")[0]
    assert "lk_" not in cookie and len(payload) < 200


def test_a_tampered_or_foreign_cookie_is_refused():
    codec = SessionCodec(SECRET)
    _, cookie = codec.issue(uuid.uuid4(), uuid.uuid4())
    assert codec.decode(cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB")) is None
    assert SessionCodec("y" * 40).decode(cookie) is None
    assert codec.decode("not-a-cookie") is None
    assert codec.decode(None) is None


def test_csrf_tokens_differ_per_sign_in_and_only_the_right_one_passes():
    codec = SessionCodec(SECRET)
    customer_id, key_id = uuid.uuid4(), uuid.uuid4()
    first, _ = codec.issue(customer_id, key_id)
    second = type(first)(customer_id, key_id, first.issued_at + 1)
    assert codec.csrf_token(first) != codec.csrf_token(second)
    assert codec.csrf_ok(first, codec.csrf_token(first))
    assert not codec.csrf_ok(first, codec.csrf_token(second))
    assert not codec.csrf_ok(first, "")
    assert not codec.csrf_ok(first, None)


def test_the_sign_in_nonce_must_match_its_signed_cookie():
    codec = SessionCodec(SECRET)
    nonce, cookie = codec.new_sign_in_nonce()
    other_nonce, _ = codec.new_sign_in_nonce()
    assert codec.sign_in_nonce_ok(cookie, nonce)
    assert not codec.sign_in_nonce_ok(cookie, other_nonce)
    assert not codec.sign_in_nonce_ok(None, nonce)
    assert not codec.sign_in_nonce_ok(nonce, nonce)


def test_without_session_secret_each_process_draws_its_own_and_warns(caplog):
    settings = load_settings(_env_file=None)
    with caplog.at_level(logging.WARNING, logger="licensing_api.dashboard.sessions"):
        first, second = SessionCodec.from_settings(settings), SessionCodec.from_settings(settings)
    assert [r.getMessage() for r in caplog.records] == ["dashboard_session_secret_ephemeral"] * 2
    _, cookie = first.issue(uuid.uuid4(), uuid.uuid4())
    assert second.decode(cookie) is None


def test_with_session_secret_every_worker_accepts_the_same_cookie():
    settings = load_settings(session_secret="s" * 32, _env_file=None)
    session, cookie = SessionCodec.from_settings(settings).issue(uuid.uuid4(), uuid.uuid4())
    assert SessionCodec.from_settings(settings).decode(cookie) == session
