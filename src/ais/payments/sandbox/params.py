"""Typed reading of a parsed form, answering bad input with Stripe's parameter errors."""

from __future__ import annotations

import re
from collections.abc import Iterable

from ais.payments.sandbox.errors import StripeError, missing_param, param_error, unknown_param
from ais.payments.sandbox.forms import FormNode, FormTree

_INTEGER = re.compile(r"^-?\d{1,18}$")
METADATA_MAX_KEYS = 50
METADATA_KEY_MAX = 40
METADATA_VALUE_MAX = 500


class Params:
    """A view of one level of the parameter tree; `prefix` names it in error messages."""

    def __init__(self, data: FormTree, prefix: str = "") -> None:
        self._data = data
        self._prefix = prefix

    def name(self, key: str) -> str:
        return f"{self._prefix}[{key}]" if self._prefix else key

    def only(self, *allowed: str) -> Params:
        """Refuse any parameter not in `allowed`, as Stripe refuses unknown parameters."""
        for key in self._data:
            if key not in allowed:
                raise unknown_param(self.name(key))
        return self

    def __contains__(self, key: str) -> bool:
        return key in self._data

    def is_scalar(self, key: str) -> bool:
        return isinstance(self._data.get(key), str)

    def string(self, key: str, *, required: bool = False, max_length: int = 5000) -> str | None:
        value = self._data.get(key)
        if value is None:
            if required:
                raise missing_param(self.name(key))
            return None
        if not isinstance(value, str):
            raise param_error(f"Invalid string: {self.name(key)} must be a string, not a hash or array.",
                              self.name(key))
        if value == "":
            raise _empty(self.name(key))
        if len(value) > max_length:
            raise param_error(f"Invalid {self.name(key)}: must be at most {max_length} characters.",
                              self.name(key))
        return value

    def required_string(self, key: str, *, max_length: int = 5000) -> str:
        value = self.string(key, required=True, max_length=max_length)
        assert value is not None  # required=True raised otherwise
        return value

    def required_integer(self, key: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
        value = self.integer(key, required=True, minimum=minimum, maximum=maximum)
        assert value is not None  # required=True raised otherwise
        return value

    def integer(self, key: str, *, required: bool = False, minimum: int | None = None,
                maximum: int | None = None) -> int | None:
        text = self.string(key, required=required)
        if text is None:
            return None
        if not _INTEGER.match(text):
            raise param_error(f"Invalid integer: {text}", self.name(key), "parameter_invalid_integer")
        value = int(text)
        if minimum is not None and value < minimum:
            message = "Invalid positive integer" if minimum == 1 else f"Invalid integer: must be at least {minimum}"
            raise param_error(message, self.name(key), "parameter_invalid_integer")
        if maximum is not None and value > maximum:
            raise param_error(f"Invalid integer: {value} is greater than the maximum allowed ({maximum}).",
                              self.name(key), "parameter_invalid_integer")
        return value

    def choice(self, key: str, choices: Iterable[str], *, required: bool = False) -> str | None:
        value = self.string(key, required=required)
        options = list(choices)
        if value is not None and value not in options:
            listed = ", ".join(options[:-1]) + f", or {options[-1]}" if len(options) > 1 else options[0]
            raise param_error(f"Invalid {self.name(key)}: must be one of {listed}", self.name(key))
        return value

    def child(self, key: str) -> Params | None:
        value = self._data.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise param_error(f"Invalid hash: {self.name(key)} must be a hash (`{self.name(key)}[key]=...`).",
                              self.name(key))
        return Params(value, self.name(key))

    def items(self, key: str) -> list[FormNode]:
        """An array given as `key[0]…key[n]` (indices from 0, in any order) or `key[]=…`."""
        value = self._data.get(key)
        if value is None:
            return []
        if isinstance(value, list):
            return value
        if isinstance(value, str):
            raise param_error(f"Invalid array: {self.name(key)} must be an array.", self.name(key))
        if not all(index.isdigit() for index in value):
            raise param_error(f"Invalid array: {self.name(key)} must be an array.", self.name(key))
        indices = sorted(int(index) for index in value)
        if indices != list(range(len(indices))):
            raise param_error(f"Invalid array: the indices of {self.name(key)} must run from 0 without gaps.",
                              self.name(key))
        return [value[str(index)] for index in indices]

    def hashes(self, key: str) -> list[Params]:
        result = []
        for index, item in enumerate(self.items(key)):
            name = f"{self.name(key)}[{index}]"
            if not isinstance(item, dict):
                raise param_error(f"Invalid hash: {name} must be a hash.", name)
            result.append(Params(item, name))
        return result

    def strings(self, key: str) -> list[str]:
        result = []
        for index, item in enumerate(self.items(key)):
            if not isinstance(item, str) or not item:
                raise param_error(f"Invalid array: {self.name(key)}[{index}] must be a non-empty string.",
                                  self.name(key))
            result.append(item)
        return result

    def metadata(self, key: str = "metadata") -> dict[str, str]:
        """Stripe's metadata: at most 50 keys of ≤ 40 characters with string values of ≤ 500.
        An empty value means "unset", which on creation simply leaves the key out."""
        value = self._data.get(key)
        if value is None or value == "":
            return {}
        name = self.name(key)
        if not isinstance(value, dict):
            raise param_error(f"Invalid hash: {name} must be a hash of strings.", name)
        result: dict[str, str] = {}
        for meta_key, meta_value in value.items():
            if not isinstance(meta_value, str):
                raise param_error(f"Invalid {name}[{meta_key}]: metadata values must be strings.", name)
            if len(meta_key) > METADATA_KEY_MAX:
                raise param_error(f"Metadata keys can have up to {METADATA_KEY_MAX} characters; "
                                  f"'{meta_key}' has {len(meta_key)}.", name)
            if len(meta_value) > METADATA_VALUE_MAX:
                raise param_error(f"Metadata values can have up to {METADATA_VALUE_MAX} characters, "
                                  f"but the value for '{meta_key}' has {len(meta_value)}.", name)
            if meta_value:
                result[meta_key] = meta_value
        if len(result) > METADATA_MAX_KEYS:
            raise param_error(f"You can have at most {METADATA_MAX_KEYS} metadata keys.", name)
        return result

    def expand(self) -> list[str]:
        return self.strings("expand")


def _empty(name: str) -> StripeError:
    return param_error(
        f"You passed an empty string for '{name}'. We assume empty values are an attempt to unset a "
        f"parameter; however '{name}' cannot be unset. You should remove '{name}' from your request "
        "or supply a non-empty value.",
        name,
        "parameter_invalid_empty",
    )
