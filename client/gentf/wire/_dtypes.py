"""Element types: the one table that maps names, numpy dtypes and wire enum values."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["DTYPES", "DType", "as_dtype"]


class DType:
    """An element type, named as TensorFlow names it (``float32``, ``int64``, ``bool``, ...).

    ``as_numpy_dtype`` is the numpy dtype (``None`` for ``resource`` and ``variant``, which
    carry no data); ``enum`` is the wire value (``gentf.v1.DataType``).
    """

    __slots__ = ("_np", "enum", "name")

    def __init__(self, name: str, enum: int, np_dtype: Any) -> None:
        self.name = name
        self.enum = enum
        self._np = None if np_dtype is None else np.dtype(np_dtype)

    @property
    def as_numpy_dtype(self) -> np.dtype[Any]:
        """The numpy dtype; raises TypeError for types that carry no data (and for
        ``bfloat16`` when ml_dtypes, which defines it for numpy, is not installed)."""
        if self._np is None:
            return self._late_numpy_dtype()
        result: np.dtype[Any] = self._np
        return result

    def _late_numpy_dtype(self) -> np.dtype[Any]:
        """The numpy dtype of a type whose module is imported at first use (bfloat16's,
        ml_dtypes), registered for :func:`as_dtype`; TypeError when there is none."""
        load = _LATE.get(self.name)
        found = load() if load is not None else None
        if found is None:
            raise TypeError(f"dtype {self.name} has no numpy equivalent")
        npd: np.dtype[Any] = np.dtype(found)
        self._np = npd
        _BY_NUMPY.setdefault(npd, self)
        return npd

    @property
    def is_floating(self) -> bool:
        """True for float16/32/64 and bfloat16."""
        return self.name in ("float16", "float32", "float64", "bfloat16")

    @property
    def is_complex(self) -> bool:
        """True for complex64/128."""
        return self.name in ("complex64", "complex128")

    @property
    def is_integer(self) -> bool:
        """True for signed and unsigned integer types."""
        return self.name.startswith(("int", "uint"))

    @property
    def is_bool(self) -> bool:
        """True for bool."""
        return self.name == "bool"

    @property
    def is_differentiable(self) -> bool:
        """True for floating and complex types: gradients flow only through these."""
        return self.is_floating or self.is_complex

    @property
    def itemsize(self) -> int:
        """Bytes per element."""
        return self.as_numpy_dtype.itemsize

    def __repr__(self) -> str:
        return f"tf.{self.name}"

    def __reduce__(self) -> Any:
        return (as_dtype, (self.name,))


def _bfloat16() -> Any:
    """ml_dtypes' bfloat16, or None without ml_dtypes. Imported at the first bfloat16
    tensor, not with gentf: with numpy 2.4, ``import ml_dtypes`` 0.7 registers its
    types' ufunc loops for most of a second, longer than the rest of ``import gentf``."""
    try:
        import ml_dtypes
    except ImportError:  # pragma: no cover - ml_dtypes comes with TensorFlow
        return None
    return ml_dtypes.bfloat16


_LATE = {"bfloat16": _bfloat16}
"""The types whose numpy dtype is looked up at first use: name -> loader (None: none)."""


_TABLE = [
    ("float32", 1, np.float32),
    ("float64", 2, np.float64),
    ("int32", 3, np.int32),
    ("uint8", 4, np.uint8),
    ("int16", 5, np.int16),
    ("int8", 6, np.int8),
    ("string", 7, np.object_),
    ("complex64", 8, np.complex64),
    ("int64", 9, np.int64),
    ("bool", 10, np.bool_),
    ("qint8", 11, None),
    ("quint8", 12, None),
    ("qint32", 13, None),
    ("qint16", 15, None),
    ("quint16", 16, None),
    ("bfloat16", 14, None),  # numpy dtype from ml_dtypes, at first use (_LATE)
    ("uint16", 17, np.uint16),
    ("complex128", 18, np.complex128),
    ("float16", 19, np.float16),
    ("resource", 20, None),
    ("variant", 21, None),
    ("uint32", 22, np.uint32),
    ("uint64", 23, np.uint64),
]

DTYPES: dict[str, DType] = {name: DType(name, enum, npd) for name, enum, npd in _TABLE}
_BY_ENUM: dict[int, DType] = {d.enum: d for d in DTYPES.values()}
_ALIASES = {"float": "float32", "double": "float64", "half": "float16", "str": "string",
            "bytes": "string", "object": "string"}
_BY_NUMPY: dict[np.dtype[Any], DType] = {
    d._np: d for d in DTYPES.values() if d._np is not None and d.name != "string"
}


def as_dtype(value: Any) -> DType:
    """Converts a DType, a name (``"float32"``), a wire enum value or a numpy dtype to a DType.

    Raises TypeError naming the value when it is none of these.
    """
    if type(value) is int:  # the common cases first: a wire enum, a native numpy dtype
        found = _BY_ENUM.get(value)
        if found is not None:
            return found
    elif isinstance(value, np.dtype):
        found = _BY_NUMPY.get(value)
        if found is not None:
            return found
    if isinstance(value, DType):
        return value
    if isinstance(value, str):
        name = _ALIASES.get(value, value)
        if name in DTYPES:
            return DTYPES[name]
        raise TypeError(f"unknown dtype name {value!r}; known: {sorted(DTYPES)}")
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        if int(value) in _BY_ENUM:
            return _BY_ENUM[int(value)]
        raise TypeError(f"unknown dtype enum value {value}")
    if value is float:
        return DTYPES["float32"]
    if value is int:
        return DTYPES["int32"]
    if value is bool:
        return DTYPES["bool"]
    try:
        npd = np.dtype(value)
    except TypeError:
        raise TypeError(f"cannot interpret {value!r} as a dtype") from None
    if npd.kind in ("U", "S", "O"):
        return DTYPES["string"]
    npd = npd.newbyteorder("=") if npd.byteorder not in ("=", "|") else npd
    if npd in _BY_NUMPY:
        return _BY_NUMPY[npd]
    if npd.name in _LATE:  # bfloat16 before its first use: look its numpy dtype up now
        try:
            if DTYPES[npd.name].as_numpy_dtype == npd:
                return DTYPES[npd.name]
        except TypeError:
            pass
    raise TypeError(f"numpy dtype {npd} has no gentf equivalent")
