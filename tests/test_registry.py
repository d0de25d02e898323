"""The generic registry (:mod:`rc.registry`) and the registries built on it."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from baselines.registry import CONTENDERS
from bench.data.catalog import SPEECH_DATASETS
from bench.data.encoding import ENCODINGS
from bench.data.mnist import DATASETS
from bench.tasks.registry import TASKS
from rc.crossing import CROSSING_RULES
from rc.registry import DuplicateNameError, Registry, UnknownNameError


@dataclass(frozen=True)
class Thing:
    name: str


def test_register_works_as_a_decorator_and_get_gives_the_item():
    things: Registry[type] = Registry("widget")

    @things.register
    class Gear:
        name = "gear"

    assert things.get("gear") is Gear and things["gear"] is Gear
    assert "gear" in things and "cog" not in things
    assert list(things) == ["gear"] and len(things) == 1 and dict(things.items()) == {"gear": Gear}


def test_names_are_sorted_and_iteration_keeps_registration_order():
    things = Registry("thing", (Thing("b"), Thing("c"), Thing("a")))
    assert things.names() == ["a", "b", "c"]
    assert list(things) == ["b", "c", "a"] and [t.name for t in things.values()] == ["b", "c", "a"]


def test_an_unknown_name_is_named_with_the_known_ones():
    things = Registry("thing", (Thing("b"), Thing("a")))
    with pytest.raises(UnknownNameError) as info:
        things.get("zz")
    assert str(info.value) == "unknown thing 'zz'; known things: a, b"
    assert isinstance(info.value, KeyError) and isinstance(info.value, ValueError)
    with pytest.raises(KeyError, match="unknown thing 'zz'"):
        things["zz"]


def test_a_second_item_under_a_taken_name_is_refused_and_the_same_item_again_is_not():
    first = Thing("a")
    things = Registry("thing", (first,))
    assert things.register(first) is first
    with pytest.raises(DuplicateNameError, match=r"^thing 'a' is registered twice \(test_registry and test_registry\)$"):
        things.register(Thing("a"))
    assert things.get("a") is first


def test_duplicate_classes_are_named_by_module_and_class():
    things: Registry[type] = Registry("widget")

    class One:
        name = "x"

    class Two:
        name = "x"

    things.register(One)
    with pytest.raises(DuplicateNameError, match=r"widget 'x' is registered twice \(test_registry\..*One and "
                                                 r"test_registry\..*Two\)"):
        things.register(Two)


def test_name_of_and_unregister():
    things = Registry("data set", (Thing("ignored"),), name_of=lambda thing: thing.name.upper())
    assert things.names() == ["IGNORED"] and things.registered() == frozenset({"IGNORED"})
    things.unregister("IGNORED")
    things.unregister("never there")
    assert len(things) == 0 and things.names() == []


def test_an_item_without_a_name_is_refused():
    with pytest.raises(TypeError, match="no string 'name'"):
        Registry("thing").register(object())


def test_before_read_runs_on_reads_only():
    calls = []

    class Lazy(Registry[Thing]):
        def _before_read(self) -> None:
            calls.append(1)
            if "late" not in self.registered():
                self.register(Thing("late"))

    lazy = Lazy("thing")
    lazy.register(Thing("early"))
    assert lazy.registered() == frozenset({"early"}) and calls == []
    assert lazy.get("early").name == "early" and calls == []  # a registered name needs no loading
    assert lazy.names() == ["early", "late"] and calls == [1]


@pytest.mark.parametrize("registry, kind", [
    (TASKS, "task"), (CONTENDERS, "contender"), (ENCODINGS, "encoding"), (CROSSING_RULES, "crossing rule"),
    (DATASETS, "data set"), (SPEECH_DATASETS, "speech data set"),
])
def test_every_registry_of_the_suite_is_one(registry, kind):
    assert isinstance(registry, Registry) and registry.kind == kind and len(registry) > 0
    for name in registry.names():
        assert registry.get(name) is registry[name]
    with pytest.raises(ValueError, match=rf"^unknown {kind} 'no-such'; known {kind}s: {', '.join(registry.names())}$"):
        registry.get("no-such")
