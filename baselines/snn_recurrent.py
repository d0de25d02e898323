"""``snn-recurrent``: an snnTorch LIF network with a recurrent (``snn.RLeaky``) hidden layer.

The hidden neurons receive, besides the step's input, their own spikes of the
previous step through a learnt all-to-all matrix (snnTorch's ``RLeaky`` with
``linear_features``), the recurrent spiking networks used on spoken digits and
commands (Cramer et al. 2020, SHD; Bittar & Garner 2022); one output
``snn.Leaky`` neuron per class; it decides at the first output spike. On speech
tasks it reads the real-valued log-mel frames as input current. The network, its
options (the convolutional front end of ``snn-conv`` included, for image tasks)
and its training are those of :mod:`baselines.snn_family`.
"""

from __future__ import annotations

from baselines.registry import register_contender
from baselines.snn_family import SpikingContender


@register_contender
class SpikingRecurrent(SpikingContender):
    name = "snn-recurrent"
    description = "snnTorch LIF network with a recurrent (RLeaky) hidden layer, decides at the first output spike"
    recurrent = True
