"""Fingerprints: pure functions of strings, tested directly and with properties."""

from __future__ import annotations

import re
import traceback as traceback_module

from hypothesis import given
from hypothesis import strategies as st

from jobs_app.exceptions import JobTimeout
from jobs_app.fingerprint import dotted_name, error_type_from_traceback, fingerprint, mask, project_frame

ROOT = "/srv/shop"

# Literal words: letters and punctuation only, so that nothing in them is masked.
words = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ:,;()!-", min_size=1, max_size=12)
hex_digits = "0123456789abcdef"
quoted_text = st.text(alphabet="abcdefghij0123456789 =&_.", max_size=20)
# Each kind of variable part, as a strategy: a message's slot is filled twice from the same one.
KINDS = [
    st.integers(min_value=0, max_value=10**15).map(str),
    st.floats(min_value=0, max_value=1e6, allow_nan=False).map(lambda value: f"{value:.3f}"),
    st.uuids().map(str),
    st.text(alphabet=hex_digits, min_size=8, max_size=40).map(lambda text: text + "7"),
    st.integers(min_value=0).map(hex),
    st.tuples(
        st.from_regex(r"[a-z0-9._+-]{1,12}", fullmatch=True), st.from_regex(r"[a-z0-9-]{1,10}", fullmatch=True)
    ).map(lambda parts: f"{parts[0]}@{parts[1]}.example.com"),
    quoted_text.map(lambda text: f"'{text}'"),
    quoted_text.map(lambda text: f'"{text}"'),
    st.from_regex(r"[a-z0-9=&_%.-]{0,30}", fullmatch=True).map(lambda query: f"https://api.example.com/v1/x?{query}"),
]


@st.composite
def two_fillings(draw):
    """One message template, filled twice with different variable parts of the same kinds."""
    pieces = draw(st.lists(st.one_of(words, st.integers(min_value=0, max_value=len(KINDS) - 1)), max_size=8))
    first, second = [], []
    for piece in pieces:
        if isinstance(piece, int):
            first.append(draw(KINDS[piece]))
            second.append(draw(KINDS[piece]))
        else:
            first.append(piece)
            second.append(piece)
    return " ".join(first), " ".join(second)


@given(two_fillings(), words, words)
def test_messages_that_differ_only_in_masked_parts_share_a_fingerprint(messages, handler, error_type):
    first, second = messages
    assert fingerprint(handler=handler, error_type=error_type, message=first) == fingerprint(
        handler=handler, error_type=error_type, message=second
    )


@given(st.text(max_size=200), words, words, words)
def test_a_different_exception_class_never_shares_a_fingerprint(message, handler, error_type, other_type):
    if error_type == other_type:
        return
    assert (
        fingerprint(handler=handler, error_type=error_type, message=message).value
        != fingerprint(handler=handler, error_type=other_type, message=message).value
    )


@given(st.text(max_size=200), words, words, words)
def test_a_different_handler_never_shares_a_fingerprint(message, error_type, handler, other_handler):
    if handler == other_handler:
        return
    assert (
        fingerprint(handler=handler, error_type=error_type, message=message).value
        != fingerprint(handler=other_handler, error_type=error_type, message=message).value
    )


@given(st.text(max_size=300))
def test_masking_never_fails_and_leaves_no_number(message):
    assert re.search(r"\d", mask(message)) is None


def test_what_is_masked():
    message = (
        "order 4411 for bob@example.com failed: GET https://pay.example.com/v2/charge?id=9&key=abc returned 502; "
        "job 0190f3c2-7a6b-7cde-8f00-112233445566 object at 0x7f3a2b1c, token 3f9a0c1d2e4b, key 'alpha-7' "
        'name "Bob"'
    )
    assert mask(message) == (
        "order <n> for <email> failed: GET https://pay.example.com/v<n>/charge?<query> returned <n>; "
        "job <uuid> object at <n>, token <n>, key '<str>' name \"<str>\""
    )


def test_words_and_apostrophes_are_kept():
    assert mask("can't connect: the deadbeef host isn't up") == "can't connect: the deadbeef host isn't up"


def test_the_fingerprint_is_short_hex_and_keeps_the_template():
    cause = fingerprint(handler="shop.charge", error_type="shop.errors.Declined", message="card 4242 declined")
    assert len(cause.value) == 16 and int(cause.value, 16) >= 0
    assert cause.message == "card <n> declined" and cause.error_type == "shop.errors.Declined"


def test_the_frame_is_part_of_the_cause():
    one = fingerprint(handler="h", error_type="E", message="m", frame="shop.pay.charge")
    other = fingerprint(handler="h", error_type="E", message="m", frame="shop.pay.refund")
    assert one.value != other.value


def test_dotted_names():
    assert dotted_name(ValueError) == "ValueError"
    assert dotted_name(JobTimeout) == "jobs_app.exceptions.JobTimeout"


TRACEBACK = f'''Traceback (most recent call last):
  File "{ROOT}/jobs_app/runner.py", line 101, in _run_attempt
    value = _call_with_timeout(handler, job)
  File "{ROOT}/shop/handlers.py", line 12, in charge
    return client.post(url)
  File "{ROOT}/shop/payments/client.py", line 40, in post
    return requests.post(url)
  File "{ROOT}/.venv/lib/python3.11/site-packages/requests/api.py", line 115, in post
    return request("post", url, data=data, json=json, **kwargs)
  File "/usr/lib/python3.11/socket.py", line 9, in create_connection
    raise err
requests.exceptions.ConnectionError: connection refused
'''


def test_the_frame_is_the_innermost_in_the_project_code_without_line_numbers():
    assert project_frame(TRACEBACK, [ROOT]) == "shop.payments.client.post"
    moved = TRACEBACK.replace("line 40", "line 97")
    assert project_frame(moved, [ROOT]) == project_frame(TRACEBACK, [ROOT])


def test_only_the_last_exception_of_a_chain_counts():
    chained = (
        TRACEBACK
        + "\nThe above exception was the direct cause of the following exception:\n\n"
        + f'Traceback (most recent call last):\n  File "{ROOT}/shop/handlers.py", line 14, in charge\n'
        + "    raise Upstream()\nshop.errors.Upstream: down\n"
    )
    assert project_frame(chained, [ROOT]) == "shop.handlers.charge"


def test_no_frame_for_a_killed_attempt_or_only_library_code():
    assert project_frame("", [ROOT]) == ""
    library_only = TRACEBACK.replace(f"{ROOT}/shop", "/usr/lib/python3.11/shop")
    assert project_frame(library_only, [ROOT]) == ""


def test_a_timeout_lands_in_the_handler_that_was_running():
    def handler():
        raise JobTimeout("Task exceeded maximum timeout value (30 seconds)")

    try:
        handler()
    except JobTimeout as error:
        text = "".join(traceback_module.format_exception(error))
    import tests

    root = tests.__file__.rsplit("/tests/", 1)[0]
    assert project_frame(text, [root]) == "tests.test_fingerprint.handler"


def test_the_dotted_type_of_an_older_row_is_read_from_its_traceback():
    assert error_type_from_traceback(TRACEBACK, "ConnectionError") == "requests.exceptions.ConnectionError"
    assert error_type_from_traceback("", "RuntimeError") == "RuntimeError"
    assert error_type_from_traceback("Traceback...\nKeyError: 'x'\n", "KeyError") == "KeyError"
