"""Flax on real-shaped models (issue 14): a linen CNN (through the exact ``Linen`` wrapper:
strided, grouped and depthwise convolutions, BatchNorm, GroupNorm, Dense) and an nnx
transformer block (Embed, LayerNorm, MultiHeadAttention, Linear, RMSNorm) are walked with
every parameter recognised and planned by generic kind/role rules in strict mode."""

from __future__ import annotations

import math

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytest.importorskip("flax")

import jax.numpy as jnp
from flax import linen as nn
from flax import nnx
from initspec.adapters import jax as isj
from initspec.adapters.jax.model import walk

import initspec

HE = {"scheme": "he", "distribution": "normal"}


def generic_plan(model) -> dict:
    specs = {"weight": HE, "bias": {"scheme": "zeros"}, "offset": {"scheme": "zeros"}, "scale": {"scheme": "ones"},
             "embedding": {"scheme": "normal", "std": 0.02}}
    roles = {p.role for p in walk(model)}
    return {"rules": [{"match": {"role": r}, "init": s} for r, s in specs.items() if r in roles]}


class CNN(nn.Module):
    @nn.compact
    def __call__(self, x, train: bool = False):
        x = nn.Conv(32, (3, 3), name="stem")(x)
        x = nn.BatchNorm(use_running_average=not train, name="stem_bn")(x)
        x = nn.relu(x)
        x = nn.Conv(64, (3, 3), strides=2, name="down")(x)
        x = nn.GroupNorm(num_groups=8, name="gn")(x)
        x = nn.Conv(64, (3, 3), feature_group_count=64, name="dw")(x)  # depthwise
        x = nn.Conv(64, (1, 1), feature_group_count=4, name="grouped")(x)
        x = x.mean((1, 2))
        return nn.Dense(10, name="head")(x)


def test_linen_cnn_is_planned_by_a_generic_plan():
    x = jnp.ones((1, 16, 16, 3))
    variables = CNN().init(jax.random.key(0), x)
    model = isj.Linen(CNN(), variables, x)
    params = walk(model)
    assert [p for p in params if p.kind == "other"] == [] and all(not p.notes for p in params)
    kinds = {p.path: p.kind for p in params}
    assert kinds["dw.weight"] == "depthwise_conv" and kinds["grouped.weight"] == "conv"
    table = initspec.plan(generic_plan(model), model)
    assert len(table) == len(params) == len(jax.tree_util.tree_leaves(variables["params"]))
    assert table.row("stem.weight").fans.fan_in == 3 * 3 * 3
    assert table.row("grouped.weight").fans.fan_in == 64 // 4
    new = initspec.apply(generic_plan(model), model).params["params"]
    assert np.asarray(new["down"]["kernel"]).std() == pytest.approx(math.sqrt(2 / (9 * 32)), rel=0.05)
    assert (np.asarray(new["gn"]["scale"]) == 1).all()


class Block(nnx.Module):
    def __init__(self, d: int, heads: int, vocab: int, rngs: nnx.Rngs):
        self.embed = nnx.Embed(vocab, d, rngs=rngs)
        self.ln1 = nnx.LayerNorm(d, rngs=rngs)
        self.attn = nnx.MultiHeadAttention(num_heads=heads, in_features=d, decode=False, rngs=rngs)
        self.ln2 = nnx.LayerNorm(d, rngs=rngs)
        self.fc1 = nnx.Linear(d, 4 * d, rngs=rngs)
        self.fc2 = nnx.Linear(4 * d, d, rngs=rngs)
        self.norm = nnx.RMSNorm(d, rngs=rngs)
        self.head = nnx.Linear(d, vocab, rngs=rngs)

    def __call__(self, tokens):
        x = self.embed(tokens)
        x = x + self.attn(self.ln1(x))
        x = x + self.fc2(nnx.gelu(self.fc1(self.ln2(x))))
        return self.head(self.norm(x))


def test_nnx_transformer_block_is_planned_by_a_generic_plan():
    d, heads = 64, 4
    model = Block(d, heads, 100, nnx.Rngs(0))
    params = walk(model)
    assert [p for p in params if p.kind == "other"] == []
    info = {p.path: p for p in params}
    q, out = info["attn.query.weight"], info["attn.out.weight"]
    assert (q.kind, q.shape, q.layer_fans.fan_in, q.layer_fans.fan_out) == ("attention", (d, heads, d // heads), d, d)
    assert (out.shape, out.layer_fans.fan_in) == ((heads, d // heads, d), d)
    assert (info["norm.scale"].kind, info["ln1.offset"].role) == ("norm", "offset")
    table = initspec.plan(generic_plan(model), model)
    assert len(table) == len(params)
    initspec.apply(generic_plan(model), model)
    assert np.asarray(model.attn.query.kernel.get_value()).std() == pytest.approx(math.sqrt(2 / d), rel=0.06)
    assert np.asarray(model.embed.embedding.get_value()).std() == pytest.approx(0.02, rel=0.06)
    model(jnp.zeros((1, 8), jnp.int32))  # still a working model
