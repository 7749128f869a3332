"""The same small MLP in PyTorch, Keras and Flax, with the same layer names, so one plan
(examples/init.yaml) initializes all three and their normalized paths line up:
fc1.weight, fc1.bias, norm.scale, norm.offset, head.weight, head.bias.
"""

from __future__ import annotations

IN, HIDDEN, OUT = 784, 256, 10


def torch_mlp():
    import torch
    from torch import nn

    class MLP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1 = nn.Linear(IN, HIDDEN)
            self.norm = nn.LayerNorm(HIDDEN)
            self.head = nn.Linear(HIDDEN, OUT)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.norm(torch.relu(self.fc1(x))))

    return MLP()


def keras_mlp():
    import keras

    inputs = keras.Input((IN,))
    x = keras.layers.Dense(HIDDEN, activation="relu", name="fc1")(inputs)
    x = keras.layers.LayerNormalization(name="norm")(x)
    return keras.Model(inputs, keras.layers.Dense(OUT, name="head")(x), name="mlp")


def flax_mlp():
    import flax.linen as nn

    class MLP(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.relu(nn.Dense(HIDDEN, name="fc1")(x))
            x = nn.LayerNorm(name="norm")(x)
            return nn.Dense(OUT, name="head")(x)

    return MLP()


def flax_mlp_params():
    """The Flax MLP's variables ({"params": ...}), as `Module.init` returns them."""
    import jax
    import jax.numpy as jnp

    return flax_mlp().init(jax.random.key(0), jnp.zeros((1, IN)))
