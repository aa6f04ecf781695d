"""The baseline Transformers: weight sharing, positional schemes, padding, shapes."""

from __future__ import annotations

from types import SimpleNamespace

import attrs
import pytest

torch = pytest.importorskip("torch")

import alta  # noqa: E402
from alta import programs  # noqa: E402
from alta.learn import transformer as tf  # noqa: E402


def _config(**changes: object) -> tf.TransformerConfig:
    base = tf.TransformerConfig(
        vocab=3,
        d_model=8,
        heads=2,
        mlp_hidden=(7,),
        layers=3,
        universal=True,
        positions="relative",
        max_length=16,
        outputs=2,
        relative_window=3,
    )
    return attrs.evolve(base, **changes)


def _net(**changes: object) -> tf.Transformer:
    """A fresh net whose relative biases are random (they start at zero), so a test of
    positions sees them."""
    torch.manual_seed(0)
    net = tf.Transformer(_config(**changes)).eval()
    with torch.no_grad():
        for name, param in net.named_parameters():
            if name.endswith("relative"):
                param.normal_()
    return net


def _params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


@pytest.fixture(scope="module")
def parity_model() -> alta.model.CompiledModel:
    return alta.compile(programs.get("parity_sequential_relative").build(), backend="numpy")


def test_universal_shares_one_layer_and_standard_does_not() -> None:
    assert _params(_net(layers=2)) == _params(_net(layers=9))
    one_layer = _params(_net(layers=2, universal=False)) - _params(_net(layers=1, universal=False))
    assert one_layer > 0
    assert _params(_net(layers=5, universal=False)) == _params(_net(layers=1)) + 4 * one_layer


def test_relative_has_no_absolute_table() -> None:
    relative = _net()
    assert relative.position is None
    assert _params(relative) == _params(_net(max_length=500))
    # the absolute table grows with max_length, one d_model row per position
    assert (
        _params(_net(positions="absolute", max_length=20))
        == _params(_net(positions="absolute", max_length=10)) + 10 * 8
    )


def _shifted(net: tf.Transformer, content: list[int], shift: int) -> torch.Tensor:
    """Logits of `content` placed after `shift` masked padding positions."""
    n = len(content) + shift + 2
    tokens = torch.zeros(1, n, dtype=torch.long)
    tokens[0, shift : shift + len(content)] = torch.tensor(content)
    keep = torch.zeros(1, n, dtype=torch.bool)
    keep[0, shift : shift + len(content)] = True
    with torch.no_grad():
        return net.forward_masked(tokens, keep)[0, shift : shift + len(content)]


@pytest.mark.parametrize("universal", [True, False])
def test_relative_model_is_translation_equivariant(universal: bool) -> None:
    content = [2, 1, 0, 1, 1, 0, 1]  # longer than the window: clipped offsets too
    relative = _net(universal=universal)
    at_zero = _shifted(relative, content, 0)
    for shift in (1, 4):
        torch.testing.assert_close(_shifted(relative, content, shift), at_zero)
    # positions matter: the same tokens in another order give other logits
    assert not torch.allclose(_shifted(relative, content[::-1], 0).flip(0), at_zero)
    absolute = _net(universal=universal, positions="absolute")
    assert not torch.allclose(_shifted(absolute, content, 3), _shifted(absolute, content, 0))


@pytest.mark.parametrize("positions", ["relative", "absolute"])
@pytest.mark.parametrize("universal", [True, False])
def test_outputs_do_not_depend_on_padding(positions: str, universal: bool) -> None:
    net = _net(positions=positions, universal=universal)
    short = [2, 1, 0]
    alone = net(torch.tensor([short]), torch.tensor([3]))
    batch = torch.tensor([[*short, 0, 0, 0, 0], [2, 0, 1, 1, 1, 0, 1], [1, 1, 0, 0, 0, 0, 0]])
    together = net(batch, torch.tensor([3, 7, 2]))
    assert together.shape == (3, 7, 2)
    torch.testing.assert_close(together[0, :3], alone[0])
    torch.testing.assert_close(together[2, :2], net(batch[2:, :2], torch.tensor([2]))[0])


def test_universal_runs_more_applications_and_standard_refuses() -> None:
    net = _net()
    tokens, lengths = torch.tensor([[2, 1, 0, 1]]), torch.tensor([4])
    assert not torch.allclose(net(tokens, lengths), net(tokens, lengths, layers=6))
    with pytest.raises(ValueError, match="exactly 3 layers"):
        _net(universal=False)(tokens, lengths, layers=6)


def test_lengths_tokens_and_table_are_checked() -> None:
    relative, absolute = _net(), _net(positions="absolute")
    long = torch.tensor([[1] * 20])
    assert relative(long, torch.tensor([20])).shape == (1, 20, 2)
    with pytest.raises(ValueError, match="max_length=16"):
        absolute(long, torch.tensor([20]))
    with pytest.raises(ValueError, match="vocabulary"):
        relative(torch.tensor([[3]]), torch.tensor([1]))
    with pytest.raises(ValueError, match="at least one token"):
        relative(torch.tensor([[1]]), torch.tensor([0]))


@pytest.mark.parametrize(
    ("field", "value"), [("heads", 0), ("positions", "rope"), ("mlp_hidden", (4, 0))]
)
def test_bad_config_names_the_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"TransformerConfig.{field}"):
        _config(**{field: value})


def test_compiled_shape_reads_the_compiled_parity_model(
    parity_model: alta.model.CompiledModel,
) -> None:
    config = tf.compiled_shape(
        parity_model, layers=12, outputs=2, positions="relative", max_length=40
    )
    ir = parity_model.ir
    assert (config.d_model, config.heads, config.mlp_hidden) == (8, 2, (7,))
    assert config.d_model == ir.d_model == parity_model.stats["d_model"]
    assert config.heads == len(ir.loop.attention.heads) == parity_model.stats["heads"]
    assert config.mlp_hidden == ir.mlp_widths
    assert (config.vocab, config.layers, config.universal) == (3, 12, True)
    net = tf.Transformer(config)
    assert net(torch.tensor([[2, 1, 1]]), torch.tensor([3])).shape == (1, 3, 2)


def test_compiled_shape_caps_wide_mlps_and_needs_a_head() -> None:
    ir = SimpleNamespace(
        d_model=81,
        input_range=13,
        mlp_widths=(1286, 40),
        loop=SimpleNamespace(attention=SimpleNamespace(heads=())),
    )
    config = tf.compiled_shape(
        SimpleNamespace(ir=ir),  # type: ignore[arg-type]
        universal=False,
        layers=4,
        outputs=10,
        positions="absolute",
        max_length=30,
    )
    assert config.mlp_hidden == (tf.MLP_CAP, 40)
    assert config.heads == 1 and not config.universal
    assert config.head_dim * config.heads >= config.d_model


def test_wider_keeps_everything_but_the_width() -> None:
    base = _config()
    wide = tf.wider(base)
    assert (wide.d_model, wide.mlp_hidden) == (128, (256,))
    assert attrs.evolve(wide, d_model=8, mlp_hidden=(7,)) == base
    assert tf.wider(base, d_model=64, mlp_hidden=(100, 100)).mlp_hidden == (100, 100)
    assert _params(tf.Transformer(wide)) > 50 * _params(tf.Transformer(base))
