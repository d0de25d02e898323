"""Event-driven input projection: a step's ``W x_t`` reads only the weights of active inputs.

Rank-coded input is a spike tensor: at each step most features are 0, and a
feature that is 0 in every example of the batch adds nothing to ``W x_t``.
:class:`ActiveInputs` restricts the input and the weight to the features that
are nonzero in some example, so a step reads ``k`` columns of ``W`` instead of
all of them. The product is the same sum with only exact zeros left out, so it
equals the dense one up to float rounding.

At batch size 1 and on a shrinking batch this is what makes one step cheap: a
dense matrix-vector product reads the whole weight matrix however few inputs
spike. Above a fraction ``dense_above`` of active features the dense product
is used, since gathering would cost more than it saves.

The restricted weight is gathered from a feature-major copy of ``W`` (one row
per input feature), cached and rebuilt whenever ``W`` changes in place (an
optimiser step, ``load_state_dict``). The copy is detached: use this with
autograd off (inference); training keeps the dense product.
"""

from __future__ import annotations

import weakref

from torch import Tensor


class ActiveInputs:
    """Restricts one weight's inputs to the active features of a step.

    Args:
        dense_above: fraction of active features in [0, 1] above which
            :meth:`select` returns the dense input and weight unchanged.
    """

    def __init__(self, dense_above: float = 0.75) -> None:
        if not 0 <= dense_above <= 1:
            raise ValueError(f"ActiveInputs: dense_above must lie in [0, 1], got {dense_above!r}")
        self.dense_above = dense_above
        self._source: tuple[weakref.ref[Tensor], int, int] | None = None
        self._by_feature: Tensor | None = None

    def __getstate__(self) -> dict[str, object]:
        """Pickle the setting only: the cached copy is rebuilt on first use (a weak
        reference cannot be pickled, and the copy would only double the size)."""
        return {"dense_above": self.dense_above}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__init__(state["dense_above"])

    def select(self, x_t: Tensor, weight: Tensor) -> tuple[Tensor, Tensor]:
        """``x_t`` and ``weight`` restricted to the features active in ``x_t``.

        Args:
            x_t: ``(batch, features)``, one step's input.
            weight: ``(out, features)``, the weight applied to it as ``x_t @ weight.T``.

        Returns:
            ``(x_active, weight_active)``, ``(batch, k)`` and ``(out, k)``: the k
            features nonzero in some example, in feature order, so that
            ``x_active @ weight_active.T`` equals ``x_t @ weight.T`` with its zero
            terms left out. Above ``dense_above * features`` active features,
            ``(x_t, weight)`` themselves.
        """
        if x_t.dim() != 2 or weight.dim() != 2 or x_t.shape[1] != weight.shape[1]:
            raise ValueError(f"ActiveInputs: need x_t (batch, features) and weight (out, features), "
                             f"got {tuple(x_t.shape)} and {tuple(weight.shape)}")
        # one example: its own nonzero features (half the calls of the batch reduction)
        active = (x_t[0] if x_t.shape[0] == 1 else x_t.ne(0).any(dim=0)).nonzero().view(-1)
        if active.numel() > self.dense_above * x_t.shape[1]:
            return x_t, weight
        return x_t.index_select(1, active), self._feature_major(weight).index_select(0, active).t()

    def _feature_major(self, weight: Tensor) -> Tensor:
        """``weight.T`` contiguous, ``(features, out)``; rebuilt when ``weight`` is another
        tensor, points at other storage or was changed in place since the last call."""
        source = self._source
        if source is None or source[0]() is not weight or source[1:] != (weight.data_ptr(), weight._version):
            self._by_feature = weight.detach().t().contiguous()
            self._source = (weakref.ref(weight), weight.data_ptr(), weight._version)
        return self._by_feature
