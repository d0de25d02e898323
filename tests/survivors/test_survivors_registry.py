"""Tests written for the mutants of ``rc/registry.py`` that survived the mutation run (issue 17)."""

from __future__ import annotations

import re

import pytest
import torch

from rc.registry import DuplicateNameError, Registry


def test_a_duplicate_without_a_module_attribute_is_named_by_its_types_module() -> None:
    """``torch.device`` objects have no ``__module__`` of their own; their type's is ``torch``."""
    first, second = torch.device("cpu"), torch.device("cpu")
    assert first is not second and not hasattr(first, "__module__")
    devices = Registry("device", (first,), name_of=str)
    with pytest.raises(DuplicateNameError, match=r"^device 'cpu' is registered twice \(torch and torch\)$"):
        devices.register(second)


def test_duplicate_functions_are_named_by_their_module_only() -> None:
    """Only classes add their qualified name; a function (which has one too) is named by its module."""

    def first():
        pass

    def second():
        pass

    functions = Registry("function", (first,), name_of=lambda function: "f")
    with pytest.raises(DuplicateNameError) as error:
        functions.register(second)
    assert str(error.value) == f"function 'f' is registered twice ({__name__} and {__name__})"


class Named:
    def __init__(self, name: object) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Named({self.name!r})"


@pytest.mark.parametrize("name", ["", 3, None, b"task"])
def test_an_item_is_registered_only_under_a_non_empty_string_name(name) -> None:
    things = Registry("thing")
    with pytest.raises(TypeError,
                       match=rf"^Named\({re.escape(repr(name))}\) has no string 'name' to be registered under$"):
        things.register(Named(name))
    assert things.registered() == frozenset()


def test_a_registry_shows_its_class_kind_and_sorted_names() -> None:
    class Tasks(Registry):
        pass

    assert repr(Tasks("task", (Named("b"), Named("a")))) == "Tasks('task', ['a', 'b'])"
    assert repr(Registry("encoding")) == "Registry('encoding', [])"


class Lazy(Registry):
    """A registry that registers its item ``late`` only when a read first asks for it, counting the loads."""

    def __init__(self) -> None:
        super().__init__("thing", (Named("early"),))
        self.loads = 0
        self.late = Named("late")

    def _before_read(self) -> None:
        self.loads += 1
        self.register(self.late)  # the same item again is a no-op


def test_in_loads_the_lazy_items_only_for_a_name_not_registered_yet() -> None:
    """``in`` answers a registered name without loading anything, and loads the lazy items before answering for
    any other name: a lazily registered name is found (True), a name no load registers is not (False)."""
    things = Lazy()
    assert "early" in things and things.loads == 0
    assert "late" in things and things.loads == 1
    assert things.registered() == frozenset({"early", "late"})
    assert "late" in things and things.loads == 1
    assert "never" not in things and things.loads == 2
