"""``snn-conv``: a feed-forward snnTorch LIF network with the LSTMs' convolutional front end.

With ``encoder = "conv"`` (image tasks) each step's frame goes through two
convolutional LIF layers of :class:`rc.model.ConvEncoder`'s shape (conv 5x5 c,
pool 2, conv 5x5 2c, pool 2), then a hidden ``snn.Leaky`` layer and one output
``snn.Leaky`` neuron per class; it decides at the first output spike. With
``encoder = "none"`` the hidden layer reads the step's features. The network,
its options and its training are those of :mod:`baselines.snn_family`.
"""

from __future__ import annotations

from baselines.registry import register_contender
from baselines.snn_family import SpikingContender


@register_contender
class SpikingConv(SpikingContender):
    name = "snn-conv"
    description = ("snnTorch convolutional LIF network (the LSTMs' front-end shape), feed-forward, "
                   "decides at the first output spike")
    recurrent = False
