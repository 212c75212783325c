import pytest
import torch as th

from sb3_jedi.world_model.layers import AdaGroupNorm, AdaLayerNorm, FourierFeatures, ResBlock2d, group_norm_groups, soft_clamp


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


def test_resblock_starts_as_identity_and_requires_condition():
    th.manual_seed(0)
    block = ResBlock2d(16, 16, cond_dim=8)
    x = th.randn(2, 16, 8, 8)
    assert th.allclose(block(x, th.randn(2, 8)), x)
    with pytest.raises(ValueError, match="cond"):
        block(x)
    assert ResBlock2d(16, 32)(x).shape == (2, 32, 8, 8)


def test_fourier_features_shape_and_odd_dim():
    assert FourierFeatures(16)(th.randn(5)).shape == (5, 16)
    with pytest.raises(ValueError, match="even"):
        FourierFeatures(7)
