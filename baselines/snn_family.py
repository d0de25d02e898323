"""The spiking family beside ``snn-ttfs``: ``snn-conv`` and ``snn-recurrent`` (snnTorch LIF networks).

Both contenders are one network, :class:`SpikingNetwork`, run one step at a time
(a :class:`rc.model.StepModel`) and deciding at the first output spike
(:class:`baselines.snn_ttfs.FirstSpike`). They differ in the hidden layer:

``snn-conv``
    feed-forward ``snn.Leaky`` hidden neurons;
``snn-recurrent``
    ``snn.RLeaky`` hidden neurons with all-to-all recurrent synapses (their own
    spikes of the previous step, through a learnt ``hidden x hidden`` matrix).

The network at step ``t`` (``frame_shape`` given and ``encoder = "conv"``)::

    frame (1, H, W) -> Conv2d(1, c, 5) -> MaxPool(2) -> Leaky          (c, (H-4)/2, (W-4)/2)
                    -> Conv2d(c, 2c, 5) -> MaxPool(2) -> Leaky         (2c, h, w)
                    -> flatten -> Linear -> Leaky | RLeaky (hidden)
                    -> Linear -> Leaky (one neuron per class)

with ``encoder = "none"`` the hidden layer reads the step's features directly.
The convolutions have the shape of :class:`rc.model.ConvEncoder` (the LSTMs'
front end: conv 5x5 c, pool 2, conv 5x5 2c, pool 2); the LIF neurons sit after
the pooling, as in snnTorch's convolutional tutorial, so that a pooled current
(not a spike) is what is pooled and there are a quarter as many neurons.

Every LIF neuron is snnTorch's (``Leaky``, ``RLeaky``) with reset by subtraction::

    U[t] = decay * U[t-1] + I[t] (+ V S[t-1] for RLeaky) - S[t-1] * threshold,   S[t] = U[t] > threshold

with ``threshold`` in the convolutional and hidden layers and ``output_threshold``
in the output layer (a high output threshold makes an output neuron integrate
more evidence before its first spike, i.e. before the decision).

from ``U = 0`` (and ``S = 0``) before step 0; a spike of the input at step t
can reach the output at step t. The backward pass uses snnTorch's fast-sigmoid
surrogate ``1 / (1 + slope |U - threshold|)^2``. With ``learn_decay`` each
neuron (each channel in the convolutional layers) learns its own decay from the
initial ``decay`` (a per-neuron PLIF, Fang et al. 2021; heterogeneous time
constants, Perez-Nieves et al. 2021), clipped to [0, 1] by snnTorch.

The input is read as it is: spikes where the task gives spikes (rank-order coded
images), real-valued frames as input current to the first layer where it gives
frames (speech: log-mel bands), as is usual for spiking speech models (measured
on FSDD's validation split in docs/spiking-contenders.md).

Per-step scores are the output membranes before their reset minus the
output threshold, as in ``snn-ttfs``: a neuron spikes at step t iff its score
is > 0, so :class:`baselines.snn_ttfs.FirstSpike` decides from them.

Training (``loss``)
    ``first-spike``: the cross-entropy of the output scores at each example's
    first output spike (the decision step; the last step for an example whose
    output stays silent). Each example is run only up to its decision
    (:func:`rc.streaming.stream_decisions`), and the loss pushes the correct
    neuron's membrane up and the others' down *at the step where the race was
    decided*: a wrong neuron that fired first is pushed below threshold there,
    the correct one towards it. This is the rank-coding objective of
    ``rc-lstm`` with the spike as the crossing (no entropy term).
    ``temporal``: snnTorch's temporal cross-entropy of the first-spike times of
    all output neurons (:func:`baselines.snn_loss.temporal_cross_entropy`, the
    loss of ``snn-ttfs``), over the whole sequence.

Operation counts: :mod:`baselines.snn_family_operations`.
"""

from __future__ import annotations

from dataclasses import dataclass

import snntorch as snn
import torch
import torch.nn.functional as F
from snntorch import surrogate
from torch import Tensor, nn

from baselines import snn_family_operations
from baselines.front_end import check_front_end
from baselines.registry import Progress, TrainingReport
from baselines.snn_init import scale_to_first_step_currents
from baselines.snn_loss import temporal_cross_entropy
from baselines.snn_ttfs import FirstSpike
from baselines.step_contender import StepModelContender, TrainingConfig
from baselines.training_loop import BatchOutcome
from bench.core.options import require_positive
from bench.core.task_contract import Split
from rc.convolution import conv_pool_sizes
from rc.operations import OperationCounts
from rc.streaming import stream_decisions

LOSSES = ("first-spike", "temporal")
INIT_EXAMPLES = 512
"""Training examples whose first step sets the data-driven initialisation (``init_target > 0``)."""


@dataclass(frozen=True)
class SpikingConfig(TrainingConfig):
    """Hyperparameters of ``snn-conv`` and ``snn-recurrent``: :class:`TrainingConfig` plus the network.

    The front-end options have the LSTMs' names and meaning (:class:`baselines.lstm_common.LSTMConfig`).

    Attributes:
        hidden: LIF neurons in the hidden layer.
        encoder: ``none`` (the hidden layer reads each step's features) or ``conv`` (two
            convolutional LIF layers read each step's image frame first; needs image frames).
        conv_channels: output channels of the first convolution (the second has twice as many).
        decay: membrane decay per step of every LIF neuron in [0, 1] (snnTorch's ``beta``);
            the initial value when ``learn_decay``.
        learn_decay: whether each neuron (each channel of a convolutional layer) learns its decay.
        threshold: firing threshold of the membrane potential of the convolutional and hidden neurons (> 0).
        output_threshold: firing threshold of the output neurons (> 0): how much evidence an output
            neuron integrates before it spikes, and so decides.
        surrogate_slope: slope k of the fast-sigmoid surrogate gradient (> 0).
        dropout: training-time dropout probability on the hidden layer's input and on the output
            layer's input (the hidden spikes); 0 disables it.
        loss: ``first-spike`` or ``temporal`` (see the module docstring).
        init_target: 0 keeps PyTorch's initialisation; > 0 rescales the convolutions and the hidden
            layer's input synapses before training so that each one's current on the first step of
            the first :data:`INIT_EXAMPLES` training examples has standard deviation
            ``init_target x threshold`` (:func:`baselines.snn_init.scale_to_first_step_currents`).
    """

    hidden: int = 128
    encoder: str = "none"
    conv_channels: int = 16
    decay: float = 0.9
    learn_decay: bool = False
    threshold: float = 1.0
    output_threshold: float = 1.0
    surrogate_slope: float = 5.0
    dropout: float = 0.0
    loss: str = "first-spike"
    init_target: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        require_positive(hidden=self.hidden, threshold=self.threshold, output_threshold=self.output_threshold,
                         surrogate_slope=self.surrogate_slope)
        if not 0.0 <= self.decay <= 1.0:
            raise ValueError(f"decay must lie in [0, 1], got {self.decay!r}")
        if not isinstance(self.learn_decay, bool):
            raise ValueError(f"learn_decay must be true or false, got {self.learn_decay!r}")
        check_front_end(self.dropout, self.encoder, self.conv_channels)
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if not self.init_target >= 0:
            raise ValueError(f"init_target must be >= 0 (0: PyTorch's initialisation), got {self.init_target!r}")


SpikingState = tuple[Tensor, ...]
"""Membrane potentials before reset, one tensor per LIF layer in order (convolutional layers
``(batch, channels, h, w)``, hidden ``(batch, hidden)``, output ``(batch, classes)``). The spikes
of the previous step are ``membrane > threshold``, so the membranes are the whole state."""


def _leaky(size: tuple[int, ...], decay: float, learn_decay: bool, threshold: float, slope: float,
           recurrent: int | None = None) -> nn.Module:
    """An snnTorch ``Leaky`` (or all-to-all ``RLeaky`` of ``recurrent`` neurons), reset by subtraction.

    With ``learn_decay`` the decay is a parameter of shape ``size`` (one per neuron, or per
    channel with ``size = (channels, 1, 1)``)."""
    beta = torch.full(size, float(decay)) if learn_decay else decay
    options = dict(beta=beta, threshold=threshold, spike_grad=surrogate.fast_sigmoid(slope=slope),
                   learn_beta=learn_decay, reset_mechanism="subtract")
    if recurrent is not None:
        return snn.RLeaky(linear_features=recurrent, all_to_all=True, **options)
    return snn.Leaky(**options)


class SpikingNetwork(nn.Module):
    """LIF layers (optionally convolutional, optionally recurrent hidden) run one step at a time.

    Implements :class:`rc.model.StepModel`; :meth:`forward` is :meth:`step` over every step.

    Args:
        n_features: inputs per step (``height * width`` with frames).
        hidden: hidden LIF neurons.
        n_classes: output LIF neurons, one per class.
        recurrent: an ``RLeaky`` hidden layer (all-to-all recurrent synapses) instead of ``Leaky``.
        frame_shape: ``(height, width)`` of each step's frame for the convolutional front end
            (each at least 16), or None for none.
        channels: c, the first convolution's output channels.
        decay, learn_decay, threshold, output_threshold, surrogate_slope, dropout: as in :class:`SpikingConfig`.
    """

    def __init__(self, n_features: int, hidden: int, n_classes: int, *, recurrent: bool = False,
                 frame_shape: tuple[int, int] | None = None, channels: int = 16, decay: float = 0.9,
                 learn_decay: bool = False, threshold: float = 1.0, output_threshold: float = 1.0,
                 surrogate_slope: float = 5.0, dropout: float = 0.0) -> None:
        super().__init__()
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout!r}")
        self.n_features = n_features
        self.recurrent = recurrent
        self.frame_shape = frame_shape
        self.dropout = nn.Dropout(dropout)
        lif = dict(decay=decay, learn_decay=learn_decay, threshold=threshold, slope=surrogate_slope)
        self.conv_layers = nn.ModuleList()
        self.conv_lifs = nn.ModuleList()
        self.conv_shapes: list[tuple[int, int, int]] = []  # (channels, height, width) of each conv LIF layer
        self.conv_sizes: list[tuple[int, int]] = []  # (height, width) of each convolution's output, before pooling
        features = n_features
        if frame_shape is not None:
            height, width = frame_shape
            if min(height, width) < 16:
                raise ValueError(f"the convolutional front end needs frames of at least 16 x 16, "
                                 f"got {height} x {width}")
            if height * width != n_features:
                raise ValueError(f"frames of {height} x {width} do not hold {n_features} features")
            if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
                raise ValueError(f"channels must be a positive integer, got {channels!r}")
            self.pool = nn.MaxPool2d(2)
            for c_in, c_out in ((1, channels), (channels, 2 * channels)):
                self.conv_layers.append(nn.Conv2d(c_in, c_out, 5))
                self.conv_lifs.append(_leaky((c_out, 1, 1), **lif))
            for convolution, (convolved, (height, width)) in zip(
                    self.conv_layers, conv_pool_sizes(self.conv_layers, frame_shape, 2)):
                self.conv_sizes.append(convolved)
                self.conv_shapes.append((convolution.out_channels, height, width))
            features = 2 * channels * height * width
        self.fc_hidden = nn.Linear(features, hidden)
        self.lif_hidden = _leaky((hidden,), **lif, recurrent=hidden if recurrent else None)
        self.fc_out = nn.Linear(hidden, n_classes)
        self.lif_out = _leaky((n_classes,), **{**lif, "threshold": output_threshold})

    # --- StepModel ---------------------------------------------------------------------------

    def forward(self, x: Tensor) -> Tensor:
        """``(batch, time, features)`` -> scores ``(batch, time, classes)``: output membrane minus threshold."""
        self.check_input(x)
        state = self.init_state(x.shape[0], x.device)
        scores = []
        for t in range(x.shape[1]):
            step_scores, state = self.step(x[:, t], state)
            scores.append(step_scores)
        return torch.stack(scores, dim=1)

    def check_input(self, x: Tensor) -> None:
        if x.dim() != 3 or x.shape[1] < 1 or x.shape[2] != self.n_features:
            raise ValueError(f"input must be shaped (batch, time >= 1, features={self.n_features}), "
                             f"got {tuple(x.shape)}")

    def init_state(self, batch_size: int, device: torch.device | None = None) -> SpikingState:
        """Zero membranes (nothing spiked before step 0)."""
        weight = self.fc_out.weight
        device = device or weight.device
        shapes = [*self.conv_shapes, (self.fc_hidden.out_features,), (self.fc_out.out_features,)]
        return tuple(torch.zeros(batch_size, *shape, device=device, dtype=weight.dtype) for shape in shapes)

    def step(self, x_t: Tensor, state: SpikingState) -> tuple[Tensor, SpikingState]:
        """``(batch, features)`` -> scores ``(batch, classes)`` and the new membranes."""
        return self.traced_step(x_t, state)

    def traced_step(self, x_t: Tensor, state: SpikingState,
                    reads: list[tuple[Tensor, nn.Module]] | None = None) -> tuple[Tensor, SpikingState]:
        """:meth:`step`; with ``reads``, appends what each synaptic layer read this step, in order:
        ``(input, layer)`` for the convolutions, the hidden layer's input synapses, its recurrent
        synapses (the previous step's hidden spikes) and the output synapses (for the counts)."""
        if x_t.dim() != 2 or x_t.shape[1] != self.n_features:
            raise ValueError(f"step input must be shaped (batch, {self.n_features}), got {tuple(x_t.shape)}")
        new_state = []
        layer_input = x_t
        if self.frame_shape is not None:
            layer_input = x_t.reshape(x_t.shape[0], 1, *self.frame_shape)
            for conv, lif, membrane in zip(self.conv_layers, self.conv_lifs, state):
                if reads is not None:
                    reads.append((layer_input, conv))
                layer_input, membrane = lif(self.pool(conv(layer_input)), membrane)
                new_state.append(membrane)
            layer_input = layer_input.flatten(1)
        layer_input = self._drop(layer_input)
        current = self.fc_hidden(layer_input)
        membrane = state[-2]
        if reads is not None:
            reads.append((layer_input, self.fc_hidden))
        if self.recurrent:
            previous = self.lif_hidden.fire(membrane)
            if reads is not None:
                reads.append((previous, self.lif_hidden.recurrent))
            spikes, membrane = self.lif_hidden(current, previous, membrane)
        else:
            spikes, membrane = self.lif_hidden(current, membrane)
        new_state.append(membrane)
        spikes = self._drop(spikes)
        if reads is not None:
            reads.append((spikes, self.fc_out))
        _spikes_out, membrane_out = self.lif_out(self.fc_out(spikes), state[-1])
        new_state.append(membrane_out)
        return membrane_out - self.lif_out.threshold, tuple(new_state)

    def select_state(self, state: SpikingState, index: Tensor) -> SpikingState:
        return tuple(membrane[index] for membrane in state)

    def spikes(self, scores: Tensor) -> Tensor:
        """Output spikes (any shape, like ``scores``) with the surrogate gradient, as ``snn.Leaky`` emits them."""
        return self.lif_out.spike_grad(scores)

    def _drop(self, v: Tensor) -> Tensor:
        return self.dropout(v) if self.training and self.dropout.p > 0 else v

    def lif_layers(self) -> list[nn.Module]:
        """Every LIF layer in order: convolutional, hidden, output (the order of the state)."""
        return [*self.conv_lifs, self.lif_hidden, self.lif_out]

    # --- operation counts (the protocol of rc.operations; rules in baselines.snn_family_operations) --

    def operations_per_step(self, x: Tensor) -> OperationCounts:
        """Operations of every example at every step of ``x`` ``(batch, time, features)``: ``(batch, time)``."""
        return snn_family_operations.operations_per_step(self, x)

    def dense_macs_per_step(self) -> int:
        """Dense forward MACs of one step for one example."""
        return snn_family_operations.dense_macs_per_step(self)

    def backward_macs_per_step(self) -> int:
        """Dense backward MACs of one step evaluation."""
        return snn_family_operations.backward_macs_per_step(self)


class SpikingContender(StepModelContender):
    """A :class:`SpikingNetwork` trained by its ``loss``, deciding at the first output spike.

    Subclasses set :attr:`recurrent`.
    """

    Config = SpikingConfig
    threshold_in_training = False
    recurrent: bool

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        torch.manual_seed(self.seed)
        cfg = self.config
        frame_shape = None
        if cfg.encoder == "conv":
            if self.spec.frame_shape is None:
                raise ValueError(f"encoder 'conv' needs a task whose steps are image frames; task {self.spec.name!r} "
                                 f"has none (use encoder = \"none\")")
            frame_shape = self.spec.frame_shape
        self.model = SpikingNetwork(
            self.spec.n_features, cfg.hidden, self.spec.n_classes, recurrent=self.recurrent,
            frame_shape=frame_shape, channels=cfg.conv_channels, decay=cfg.decay, learn_decay=cfg.learn_decay,
            threshold=cfg.threshold, output_threshold=cfg.output_threshold, surrogate_slope=cfg.surrogate_slope,
            dropout=cfg.dropout,
        ).to(self.device)

    def fit(self, train: Split, val: Split, progress: Progress) -> TrainingReport:
        """Train as every step contender does, after the data-driven initialisation when ``init_target > 0``."""
        if self.config.init_target > 0:
            first_step = train.x[:INIT_EXAMPLES][:, 0].to(self.device, self.model.fc_out.weight.dtype)
            rates = scale_to_first_step_currents(self.model, first_step, self.config.init_target)
            progress("data-driven initialisation: first-step firing rates "
                     + ", ".join(f"{rate:.3f}" for rate in rates) + " (rescaled layers in order, the hidden layer last)")
        return super().fit(train, val, progress)

    @classmethod
    def own_rule(cls) -> FirstSpike:
        """The decision is the first output spike, which has no theta."""
        return FirstSpike()

    def objective(self, x: Tensor, y: Tensor) -> BatchOutcome:
        if self.config.loss == "temporal":
            loss = temporal_cross_entropy(self.model.spikes(self.model(x)), y)
            evaluations = x.shape[0] * x.shape[1]
            return BatchOutcome(loss, evaluations, evaluations)
        scores, _decision, evaluations = stream_decisions(self.model, x, self.rule)
        return BatchOutcome(F.cross_entropy(scores, y), evaluations, evaluations)
