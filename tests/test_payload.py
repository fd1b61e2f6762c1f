"""payload: everything stored is valid UTF-8 JSON, refused at enqueue for arguments, made safe for the rest."""

from __future__ import annotations

import json

import pytest

from jobs_app.models import Job
from jobs_app.payload import MAX_NESTING, encode_arguments, encode_result, safe_text
from tests.testapp import handlers


def nested(depth: int, leaf=1):
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


UNSTORABLE_ARGUMENTS = [
    pytest.param(("\ud800",), {}, id="lone-surrogate"),
    pytest.param(("fine", ["a", {"deep": ["\udfff"]}]), {}, id="surrogate-nested"),
    pytest.param(({"\ud800": 1},), {}, id="surrogate-key"),
    pytest.param((), {"to": {"x": [1, "\udc80"]}}, id="surrogate-in-kwarg"),
    pytest.param((), {"\ud800": 1}, id="surrogate-kwarg-name"),
    pytest.param(("nul\x00byte",), {}, id="nul-character"),
    pytest.param(({1: "a", "1": "b"},), {}, id="int-and-str-key-collide"),
    pytest.param(({"k": {True: 1, "true": 2}},), {}, id="bool-key-collides"),
    pytest.param(({None: 1, "null": 2},), {}, id="none-key-collides"),
    pytest.param(({1.5: 1, "1.5": 2},), {}, id="float-key-collides"),
    pytest.param((nested(10_000),), {}, id="nested-10000-deep"),
    pytest.param((), {"tree": nested(MAX_NESTING + 1)}, id="nested-one-too-deep"),
    pytest.param(({(1, 2): "tuple key"},), {}, id="tuple-key"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("args", "kwargs"), UNSTORABLE_ARGUMENTS)
def test_arguments_that_cannot_be_stored_raise_type_error_at_enqueue_and_store_nothing(args, kwargs):
    with pytest.raises(TypeError, match=r"^test\.echo: ") as raised:
        handlers.echo.enqueue(*args, **kwargs)
    assert raised.type is TypeError  # not RecursionError, UnicodeEncodeError or a database error
    assert not Job.objects.exists()


def test_the_error_names_the_argument_and_where_in_it():
    with pytest.raises(TypeError, match=r"argument 2 \(list\) cannot be stored: argument 2\[1\]\['deep'\]\[0\]"):
        encode_arguments("h", ("fine", ["a", {"deep": ["\udfff"]}]), {})
    with pytest.raises(TypeError, match=r"two keys that are both '1' in JSON"):
        encode_arguments("h", ({1: "a", "1": "b"},), {})
    with pytest.raises(TypeError, match=rf"nested more than {MAX_NESTING} levels deep"):
        encode_arguments("h", (), {"tree": nested(10_000)})


def test_what_json_can_hold_still_passes_with_keys_made_strings():
    assert encode_arguments("h", ("ü", nested(MAX_NESTING), {1: "a", 2: "b"}), {"t": (1, 2)}) == (
        ["ü", nested(MAX_NESTING), {"1": "a", "2": "b"}],
        {"t": [1, 2]},
    )


def test_a_result_has_its_unencodable_text_replaced_and_keeps_the_rest():
    result = encode_result("h", {"text": "bad \udfff", "\ud800": ["ok", "nul\x00"]})
    assert result == {"text": "bad \\udfff", "\\ud800": ["ok", "nul\\x00"]}
    json.dumps(result, ensure_ascii=False).encode()  # valid UTF-8 throughout


def test_a_result_nested_too_deep_or_with_colliding_keys_is_a_type_error():
    with pytest.raises(TypeError, match="nested more than"):
        encode_result("h", nested(10_000))
    with pytest.raises(TypeError, match="two keys"):
        encode_result("h", {1: "a", "1": "b"})


class Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("no text for you")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain ü text", "plain ü text"),
        ("lone \ud800 surrogate", "lone \\ud800 surrogate"),
        ("nul\x00", "nul\\x00"),
        (RuntimeError("bad \udfff"), "bad \\udfff"),
        (Unprintable(), "<unprintable Unprintable object>"),
    ],
)
def test_safe_text_is_always_encodable(value, expected):
    assert safe_text(value) == expected
    safe_text(value).encode()
