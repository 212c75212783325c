import pytest
import torch as th

from sb3_jedi.world_model.layers import (
    AdaGroupNorm,
    AdaLayerNorm,
    FourierFeatures,
    ResBlock2d,
    SmallResBlock2d,
    group_norm_groups,
    soft_clamp,
)


def test_soft_clamp_bounds_and_identity_near_zero():
    x = th.linspace(-1e4, 1e4, 1001)
    y = soft_clamp(x, 3.0)
    assert y.abs().max() <= 3.0
    small = th.linspace(-0.01, 0.01, 11)
    assert th.allclose(soft_clamp(small, 3.0), small, atol=1e-6)
    assert soft_clamp(x, None) is x


def test_group_norm_groups_divides_channels():
    for channels in (1, 3, 16, 32, 48, 160, 100):
        groups = group_norm_groups(channels)
        assert channels % groups == 0 and groups >= 1
    assert group_norm_groups(160) == 5


def test_adaptive_norms_use_condition():
    th.manual_seed(0)
    gn, ln = AdaGroupNorm(32, 8), AdaLayerNorm(10, 8)
    x, v = th.randn(2, 32, 4, 4), th.randn(2, 10)
    c1, c2 = th.randn(2, 8), th.randn(2, 8)
    assert not th.allclose(gn(x, c1), gn(x, c2))
    assert not th.allclose(ln(v, c1), ln(v, c2))


def test_resblock_starts_as_identity_plus_its_last_bias_and_requires_condition():
    th.manual_seed(0)
    block = ResBlock2d(16, 16, cond_dim=8)
    x = th.randn(2, 16, 8, 8)
    # DIAMOND zero-initialises the last convolution's weights, not its bias: the block starts as x + that bias.
    assert not block.conv2.weight.any() and block.conv2.bias.abs().sum() > 0
    th.testing.assert_close(block(x, th.randn(2, 8)), x + block.conv2.bias.detach()[:, None, None])
    with pytest.raises(ValueError, match="cond"):
        block(x)
    assert ResBlock2d(16, 32)(x).shape == (2, 32, 8, 8)


def test_small_resblock_is_diamonds_one_convolution_block():
    th.manual_seed(0)
    x = th.randn(2, 32, 8, 8)
    same = SmallResBlock2d(32, 32)
    # DIAMOND's SmallResBlock: skip(x) + conv3x3(silu(GroupNorm(x))), groups of 32 channels, default initialisation.
    expected = x + same.conv(th.nn.functional.silu(th.nn.functional.group_norm(x, 1, same.norm.weight, same.norm.bias)))
    th.testing.assert_close(same(x), expected)
    assert same.conv.weight.abs().sum() > 0 and isinstance(same.skip, th.nn.Identity)
    wider = SmallResBlock2d(32, 64)
    assert wider(x).shape == (2, 64, 8, 8) and wider.skip.kernel_size == (1, 1)
    assert sum(p.numel() for p in wider.parameters()) == 2 * 32 + (32 * 9 * 64 + 64) + (32 * 64 + 64)


def test_fourier_features_shape_and_odd_dim():
    assert FourierFeatures(16)(th.randn(5)).shape == (5, 16)
    with pytest.raises(ValueError, match="even"):
        FourierFeatures(7)
