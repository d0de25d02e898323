"""One generic registry: name -> item, for every kind of thing the suite looks up by name.

Crossing rules (:data:`rc.crossing.CROSSING_RULES`), encodings
(:data:`bench.data.encoding.ENCODINGS`), tasks (:data:`bench.tasks.registry.TASKS`) and
contenders (:data:`baselines.registry.CONTENDERS`) are each a :class:`Registry`. It lives in
``rc``, the lowest layer, because the crossing rules need it and every layer above may import it.

An item is registered under its own ``name`` attribute (or what ``name_of`` gives), usually
with :meth:`Registry.register` as a class decorator. Asking for an unknown name raises
:class:`UnknownNameError` naming it and listing the known names; registering a second item
under a taken name raises :class:`DuplicateNameError` (registering the same item again is a
no-op, so re-importing a module is harmless).
"""

from __future__ import annotations

from collections.abc import Callable, ItemsView, Iterable, Iterator, KeysView, ValuesView
from typing import Generic, TypeVar

T = TypeVar("T")
Item = TypeVar("Item")
"""The registered item's own type, which :meth:`Registry.register` gives back (a decorated class)."""


class UnknownNameError(KeyError, ValueError):
    """A name no item is registered under; the message names it and lists the known ones.

    A :class:`KeyError` (it comes from a lookup) and a :class:`ValueError` (the name is usually
    user input: a profile, a command-line option), so either ``except`` catches it."""

    def __str__(self) -> str:
        return str(self.args[0])


class DuplicateNameError(ValueError):
    """A second, different item registered under a name already taken."""


def _origin(item: object) -> str:
    """Where ``item`` comes from, for error messages: its module (and class name for a class)."""
    module = getattr(item, "__module__", type(item).__module__)
    qualname = getattr(item, "__qualname__", None) if isinstance(item, type) else None
    return f"{module}.{qualname}" if qualname else str(module)


def _name_attribute(item: object) -> str:
    name = getattr(item, "name", None)
    if not isinstance(name, str) or not name:
        raise TypeError(f"{item!r} has no string 'name' to be registered under")
    return name


class Registry(Generic[T]):
    """Name -> item of one kind (``kind`` names it in messages: ``"task"``, ``"encoding"``).

    Reads (:meth:`get`, ``[]``, ``in``, iteration, :meth:`names`, :meth:`items`) first call
    :meth:`_before_read`, which a subclass overrides to load items lazily (the contender
    registry loads plug-in entry points there); :meth:`register`, :meth:`unregister` and
    :meth:`registered` never do.

    Args:
        kind: the singular noun for one item, used in error messages.
        items: items to register at once, in order.
        name_of: the name an item is registered under; by default its ``name`` attribute.
    """

    def __init__(self, kind: str, items: Iterable[T] = (), name_of: Callable[[T], str] = _name_attribute) -> None:
        self.kind = kind
        self._name_of = name_of
        self._items: dict[str, T] = {}
        for item in items:
            self.register(item)

    # ----------------------------------------------------------------- writing (never loads)

    def register(self, item: Item) -> Item:
        """Add ``item`` under its name and give it back (so it works as a class decorator).

        Raises :class:`DuplicateNameError` if a different item has that name."""
        name = self._name_of(item)  # type: ignore[arg-type]
        registered = self._items.get(name)
        if registered is not None and registered is not item:
            raise DuplicateNameError(f"{self.kind} {name!r} is registered twice "
                                     f"({_origin(registered)} and {_origin(item)})")
        self._items[name] = item  # type: ignore[assignment]
        return item

    def unregister(self, name: str) -> None:
        """Remove the item registered as ``name`` (a test's temporary one); absent names are ignored."""
        self._items.pop(name, None)

    def registered(self) -> frozenset[str]:
        """The names registered so far, without loading anything (see :meth:`_before_read`)."""
        return frozenset(self._items)

    # ----------------------------------------------------------------- reading

    def _before_read(self) -> None:
        """Hook run before every read; loads nothing here."""

    def get(self, name: str) -> T:
        """The item registered as ``name``; :class:`UnknownNameError` lists the known names."""
        if name not in self._items:
            self._before_read()
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(f"unknown {self.kind} {name!r}; known {self.kind}s: "
                                   f"{', '.join(self.names())}") from None

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        self._before_read()
        return sorted(self._items)

    def keys(self) -> KeysView[str]:
        self._before_read()
        return self._items.keys()

    def values(self) -> ValuesView[T]:
        self._before_read()
        return self._items.values()

    def items(self) -> ItemsView[str, T]:
        self._before_read()
        return self._items.items()

    def __contains__(self, name: object) -> bool:
        if name not in self._items:
            self._before_read()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        self._before_read()
        return iter(list(self._items))

    def __len__(self) -> int:
        self._before_read()
        return len(self._items)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.kind!r}, {sorted(self._items)})"
