"""Stripe's bracket form encoding and parameter rules, without a server."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from ais.payments.sandbox.errors import StripeError
from ais.payments.sandbox.forms import fingerprint, parse_form
from ais.payments.sandbox.params import Params


def test_nested_hashes_arrays_and_appends() -> None:
    body = urlencode([
        ("mode", "payment"),
        ("line_items[0][price_data][unit_amount]", "123450"),
        ("line_items[0][price_data][product_data][name]", "RUH → JED"),
        ("line_items[1][quantity]", "2"),
        ("metadata[bookingId]", "b-1"),
        ("metadata[0]", "a digit key stays a key"),
        ("expand[]", "payment_intent"),
        ("expand[]", "line_items"),
    ])

    tree = parse_form(body)
    params = Params(tree)

    assert tree["mode"] == "payment"
    items = params.hashes("line_items")
    assert items[0].child("price_data").required_integer("unit_amount") == 123450
    assert items[1].required_integer("quantity") == 2
    assert params.metadata() == {"bookingId": "b-1", "0": "a digit key stays a key"}
    assert params.expand() == ["payment_intent", "line_items"]


def test_indexed_arrays_as_the_sdk_sends_them() -> None:
    params = Params(parse_form("expand[1]=b&expand[0]=a"))
    assert params.expand() == ["a", "b"]
    with pytest.raises(StripeError):
        Params(parse_form("expand[0]=a&expand[2]=c")).expand()


@pytest.mark.parametrize("body", ["a=1&a[b]=2", "a[b]=2&a=1", "a[][b]=1", "a]=1", "a[]=1&a[x]=2"])
def test_conflicting_or_malformed_names_are_refused(body: str) -> None:
    with pytest.raises(StripeError) as caught:
        parse_form(body)
    assert caught.value.status == 400


def test_unknown_empty_and_wrong_types_answer_stripes_errors() -> None:
    params = Params(parse_form("amount=&currency[x]=sar&extra=1"))
    with pytest.raises(StripeError) as caught:
        params.only("amount", "currency")
    assert (caught.value.code, caught.value.param) == ("parameter_unknown", "extra")
    with pytest.raises(StripeError) as caught:
        params.integer("amount")
    assert caught.value.code == "parameter_invalid_empty"
    with pytest.raises(StripeError) as caught:
        params.string("currency")
    assert caught.value.param == "currency"


def test_metadata_limits() -> None:
    with pytest.raises(StripeError):
        Params(parse_form(urlencode({f"metadata[k{i}]": "v" for i in range(51)}))).metadata()
    with pytest.raises(StripeError):
        Params(parse_form(urlencode({"metadata[" + "k" * 41 + "]": "v"}))).metadata()
    assert Params(parse_form("metadata[gone]=")).metadata() == {}


def test_fingerprint_ignores_order_but_not_values() -> None:
    assert fingerprint(parse_form("a=1&b[c]=2")) == fingerprint(parse_form("b[c]=2&a=1"))
    assert fingerprint(parse_form("a=1")) != fingerprint(parse_form("a=2"))
