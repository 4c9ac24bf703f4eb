"""Choice maps, selections and diffs."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from gentf.gfi import (
    ChoiceMap,
    EmptyChoiceMap,
    NoChange,
    UnknownChange,
    choicemap,
    complement,
    from_array,
    path,
    select,
    selectall,
    to_array,
)


def test_tuple_address_is_one_key() -> None:
    cm = choicemap({("y", 3): 1.5, "x": 2.0})
    assert cm[("y", 3)] == 1.5
    assert ("y", 3) in cm and "y" not in cm
    assert len(cm) == 2
    assert set(cm) == {("y", 3), "x"}


def test_nested_from_dict_and_paths() -> None:
    cm = choicemap({"a": 1.0, "sub": {"x": 2.0, ("z", 0): 3.0}, path("sub", "w"): 4.0})
    assert cm[path("sub", "x")] == 2.0
    assert cm["sub"]["x"] == 2.0
    assert cm.get_submap("sub").get_value(("z", 0)) == 3.0
    assert cm.get_value(path("sub", "w")) == 4.0
    assert path("sub", "x") in cm and path("sub", "nope") not in cm
    assert cm.get_submap("missing").is_empty()
    with pytest.raises(KeyError, match="submap"):
        cm.get_value("sub")
    with pytest.raises(ValueError, match="holds a value"):
        cm.get_submap("a")
    leaves = dict(cm.leaves())
    assert leaves == {"a": 1.0, path("sub", "x"): 2.0, path("sub", ("z", 0)): 3.0,
                      path("sub", "w"): 4.0}



def test_lookup_value_agrees_with_has_value_and_get_value() -> None:
    cm = choicemap({"a": 1.0, ("y", 3): 0, "sub": {"x": 2.0, "deep": {"z": None}}})
    for addr in ("a", ("y", 3), path("sub", "x"), path("sub", "deep", "z"), "sub",
                 path("sub", "deep"), "missing", path("sub", "nope"), path("nope", "x")):
        expected = (True, cm.get_value(addr)) if cm.has_value(addr) else (False, None)
        assert cm.lookup_value(addr) == expected, addr
    assert cm.lookup_value(path("sub", "deep", "z")) == (True, None)  # a None value is found
    assert EmptyChoiceMap().lookup_value("a") == (False, None)
    with pytest.raises(TypeError, match="hashable"):
        cm.lookup_value(["not", "hashable"])

def test_empty_and_immutable_empty() -> None:
    assert EmptyChoiceMap().is_empty()
    assert isinstance(EmptyChoiceMap(), ChoiceMap)
    assert choicemap().is_empty() and choicemap(None).is_empty()
    assert choicemap({"sub": {}}).is_empty()
    with pytest.raises(TypeError, match="immutable"):
        EmptyChoiceMap()["x"] = 1.0


def test_setitem_value_vs_submap_conflicts() -> None:
    cm = choicemap()
    cm["x"] = 1.0
    cm[path("s", "t")] = 2.0
    with pytest.raises(ValueError):
        cm[path("x", "y")] = 3.0
    with pytest.raises(ValueError):
        cm.set_value("s", 3.0)
    with pytest.raises(TypeError, match="hashable"):
        cm[[1, 2]] = 3.0


def test_merge_and_equality() -> None:
    a = choicemap({"x": 1.0, path("s", "u"): np.array([1.0, 2.0])})
    b = choicemap({"y": 2.0, path("s", "v"): 3.0})
    merged = a.merge(b)
    assert merged == choicemap({"x": 1.0, "y": 2.0,
                                "s": {"u": np.array([1.0, 2.0]), "v": 3.0}})
    assert "y" not in a  # inputs untouched
    with pytest.raises(ValueError, match="both have"):
        a.merge(choicemap({path("s", "u"): 0.0}))
    assert a != b


def test_to_from_array_roundtrip() -> None:
    cm = choicemap({"x": 1.0, "s": {"m": np.array([[1.0, 2.0], [3.0, 4.0]]), "k": -1.0}})
    arr = to_array(cm)
    assert arr.tolist() == [1.0, 1.0, 2.0, 3.0, 4.0, -1.0]
    back = from_array(cm, arr * 2)
    assert back["x"] == 2.0
    assert np.array_equal(back[path("s", "m")], [[2.0, 4.0], [6.0, 8.0]])
    assert from_array(cm, arr) == cm
    with pytest.raises(ValueError, match="holds 6 numbers; the array has 5"):
        from_array(cm, np.zeros(5))
    with pytest.raises(ValueError, match="holds 6"):
        from_array(cm, np.zeros(7))


def test_selections() -> None:
    sel = select("x", ("y", 1), path("sub", "z"), "call")
    assert "x" in sel and ("y", 1) in sel and ("y", 2) not in sel
    assert "z" in sel.get_subselection("sub") and "w" not in sel["sub"]
    assert path("sub", "z") in sel
    assert "anything" in sel.get_subselection("call")  # a selected call: everything inside
    assert select().is_empty() and "x" not in select()
    assert "q" in selectall() and not selectall().is_empty()
    comp = complement(sel)
    assert "x" not in comp and "q" in comp
    assert "z" not in comp.get_subselection("sub") and "w" in comp["sub"]
    assert complement(comp) is sel
    assert (~selectall()).is_empty()
    assert "x" in ~select()


def test_diffs_are_singletons() -> None:
    assert NoChange is not UnknownChange
    assert pickle.loads(pickle.dumps(NoChange)) is NoChange
    assert repr(UnknownChange) == "UnknownChange"
