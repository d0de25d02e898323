"""``snn-ttfs``: a spiking network of leaky integrate-and-fire neurons, deciding at its first output spike.

The network (snnTorch)::

    x_t (features) -> Linear -> snn.Leaky (hidden) -> Linear -> snn.Leaky (one neuron per class)

It reads the task's tensors ``(batch, time, features)`` one step at a time;
on rank-order (latency) coded tasks these are spikes in {0, 1}. Every LIF
neuron follows snnTorch's ``Leaky`` with reset by subtraction::

    U[t] = decay * U[t-1] + I[t] - S[t-1] * threshold,    S[t] = 1 if U[t] > threshold else 0

starting from ``U = 0`` before step 0, so an input spike at step 0 can make
an output spike at step 0. The backward pass replaces dS/dU by snnTorch's
fast-sigmoid surrogate ``1 / (1 + slope * |U - threshold|)**2``.

Per-step scores
    The output layer's membrane potential *before* its reset, minus the firing
    threshold: ``score[t] = U_out[t] - threshold``, ``(batch, time, classes)``.
    An output neuron spikes at step t exactly when its score is > 0 (the very
    comparison ``snn.Leaky`` makes), so the scores carry both the spikes and
    the membrane potentials the rule needs.

Decision rule (:class:`FirstSpike`, name ``"first-spike"``)
    * crossed at step t when any output neuron spikes there (any score > 0);
      a spike at step 0 counts;
    * the prediction is the spiking neuron; when several spike at the same
      step, the one with the highest membrane potential wins, and exact ties
      of the membrane go to the lowest class index;
    * when no output neuron ever spikes, the decision falls back to the last
      step and predicts the neuron with the highest membrane potential there
      (flagged as never crossed).
    All three cases are ``argmax(score)``: when any neuron spikes, the highest
    membrane belongs to a spiking neuron. The rule has no theta; the spike is
    the decision. :meth:`SpikingTTFS.own_rule` returns it, so the harness
    runs one cell per seed (theta is recorded as null).

Training
    Adam on snnTorch's temporal cross-entropy of the first output spike times
    (:func:`baselines.snn_loss.temporal_cross_entropy`, a vectorised
    ``snntorch.functional.ce_temporal_loss``): the correct neuron is pushed to
    fire first, the others later. The first-spike time of every output neuron
    is needed, and a silent neuron's is the last step, so training runs the
    whole sequence: forward and backward step evaluations are
    ``batch * time`` per minibatch. Inference exits early at the first spike
    (:func:`rc.inference.early_exit_decide`), since the network implements
    :class:`rc.model.StepModel`.
"""

from __future__ import annotations

from dataclasses import dataclass

import snntorch as snn
import torch
from snntorch import surrogate
from torch import Tensor, nn

from baselines import snn_operations
from baselines.registry import register_contender
from baselines.snn_loss import temporal_cross_entropy
from baselines.step_contender import StepModelContender, TrainingConfig
from baselines.training_loop import BatchOutcome
from bench.core.options import require_positive
from rc.crossing import SoftmaxThreshold
from rc.operations import OperationCounts


@dataclass(frozen=True)
class SNNConfig(TrainingConfig):
    """Hyperparameters of ``snn-ttfs``: :class:`TrainingConfig` plus the network.

    Attributes:
        hidden: LIF neurons in the hidden layer.
        decay: membrane decay per step of every LIF neuron, in [0, 1]
            (snnTorch's ``Leaky(beta=...)``; 1 integrates without leak).
        threshold: firing threshold of the membrane potential (> 0).
        surrogate_slope: slope k of the fast-sigmoid surrogate gradient (> 0).
    """

    lr: float = 5e-3
    hidden: int = 128
    decay: float = 0.9
    threshold: float = 1.0
    surrogate_slope: float = 5.0

    def __post_init__(self) -> None:
        super().__post_init__()
        require_positive(hidden=self.hidden, threshold=self.threshold, surrogate_slope=self.surrogate_slope)
        if not 0.0 <= self.decay <= 1.0:
            raise ValueError(f"decay must lie in [0, 1], got {self.decay!r}")


class FirstSpike(SoftmaxThreshold):
    """Decision at the first output spike, on scores = output membrane minus threshold.

    Crossed when any score is > 0 (a neuron spikes); predicts ``argmax(score)``,
    which is the spiking neuron with the highest membrane potential, or the
    highest membrane at the last step when nothing spiked. ``theta`` is 0: the
    score level above which a neuron spikes. Probabilities, predictions and
    entropy are those of :class:`rc.crossing.SoftmaxThreshold` (softmax of the
    scores, argmax); ``snn-ttfs`` does not train with the entropy.
    """

    name = "first-spike"

    def __init__(self) -> None:
        self.theta = 0.0

    def __repr__(self) -> str:
        return "FirstSpike()"

    def crossed(self, scores: Tensor) -> Tensor:
        self.check_scores(scores)
        return (scores > 0).any(dim=-1)


SNNState = tuple[Tensor, Tensor]
"""Membrane potentials before reset: hidden ``(batch, hidden)``, output ``(batch, classes)``."""


class LIFClassifier(nn.Module):
    """Two layers of snnTorch ``Leaky`` neurons, run one step at a time.

    Implements :class:`rc.model.StepModel`; :meth:`forward` is :meth:`step`
    over every step, so both give identical numbers.

    Args:
        n_features: inputs per step.
        hidden: hidden LIF neurons.
        n_classes: output LIF neurons, one per class.
        decay, threshold, surrogate_slope: as in :class:`SNNConfig`.
    """

    def __init__(self, n_features: int, hidden: int, n_classes: int,
                 decay: float, threshold: float, surrogate_slope: float) -> None:
        super().__init__()
        self.n_features = n_features
        self.fc_hidden = nn.Linear(n_features, hidden)
        self.lif_hidden = snn.Leaky(beta=decay, threshold=threshold,
                                    spike_grad=surrogate.fast_sigmoid(slope=surrogate_slope))
        self.fc_out = nn.Linear(hidden, n_classes)
        self.lif_out = snn.Leaky(beta=decay, threshold=threshold,
                                 spike_grad=surrogate.fast_sigmoid(slope=surrogate_slope))

    def forward(self, x: Tensor) -> Tensor:
        """``(batch, time, features)`` -> scores ``(batch, time, classes)``: output membrane minus threshold."""
        if x.dim() != 3 or x.shape[1] < 1 or x.shape[2] != self.n_features:
            raise ValueError(f"input must be shaped (batch, time >= 1, features={self.n_features}), "
                             f"got {tuple(x.shape)}")
        state = self.init_state(x.shape[0], x.device)
        scores = []
        for t in range(x.shape[1]):
            step_scores, state = self.step(x[:, t], state)
            scores.append(step_scores)
        return torch.stack(scores, dim=1)

    def init_state(self, batch_size: int, device: torch.device | None = None) -> SNNState:
        """Zero membranes (nothing spiked before step 0)."""
        weight = self.fc_out.weight
        device = device or weight.device
        return (torch.zeros(batch_size, self.fc_hidden.out_features, device=device, dtype=weight.dtype),
                torch.zeros(batch_size, self.fc_out.out_features, device=device, dtype=weight.dtype))

    def step(self, x_t: Tensor, state: SNNState) -> tuple[Tensor, SNNState]:
        """``(batch, features)`` -> scores ``(batch, classes)`` and the new membranes.

        ``snn.Leaky`` returns the membrane before this step's reset and applies
        the reset at the next step (from that membrane), so the membranes are
        the whole state.
        """
        mem_hidden, mem_out = state
        spikes_hidden, mem_hidden = self.lif_hidden(self.fc_hidden(x_t), mem_hidden)
        _spikes_out, mem_out = self.lif_out(self.fc_out(spikes_hidden), mem_out)
        return mem_out - self.lif_out.threshold, (mem_hidden, mem_out)

    def select_state(self, state: SNNState, index: Tensor) -> SNNState:
        return state[0][index], state[1][index]

    # operation counts (the protocol of rc.operations; the rules are in baselines.snn_operations)
    def operations_per_step(self, x: Tensor) -> OperationCounts:
        """Operations of every example at every step of ``x`` ``(batch, time, features)``: ``(batch, time)``."""
        return snn_operations.snn_operations_per_step(self, x)

    def dense_macs_per_step(self) -> int:
        """Dense forward MACs of one step for one example."""
        return snn_operations.snn_dense_macs_per_step(self)

    def backward_macs_per_step(self) -> int:
        """Dense backward MACs of one step evaluation."""
        return snn_operations.snn_backward_macs_per_step(self)

    def spikes(self, scores: Tensor) -> Tensor:
        """Output spikes (any shape, like ``scores``) with the surrogate gradient, as ``snn.Leaky`` emits them."""
        return self.lif_out.spike_grad(scores)


@register_contender
class SpikingTTFS(StepModelContender):
    name = "snn-ttfs"
    description = "snnTorch LIF network trained on first-spike times, decides at the first output spike"
    Config = SNNConfig
    threshold_in_training = False

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        torch.manual_seed(self.seed)
        cfg = self.config
        self.model = LIFClassifier(self.spec.n_features, cfg.hidden, self.spec.n_classes,
                                   cfg.decay, cfg.threshold, cfg.surrogate_slope).to(self.device)

    @classmethod
    def own_rule(cls) -> FirstSpike:
        """The decision is the first output spike, which has no theta."""
        return FirstSpike()

    def objective(self, x: Tensor, y: Tensor) -> BatchOutcome:
        """Temporal cross-entropy of the first output spike times over the whole sequence."""
        loss = temporal_cross_entropy(self.model.spikes(self.model(x)), y)
        evaluations = x.shape[0] * x.shape[1]
        return BatchOutcome(loss, evaluations, evaluations)
