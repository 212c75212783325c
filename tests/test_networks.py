"""Shapes, initialisation, conditioning and input checks of the JEDI networks."""

import pytest
import torch as th
from torch import nn

from sb3_jedi.actor_critic import ActorCriticNetwork
from sb3_jedi.world_model.decoder import CnnDecoder, MlpDecoder
from sb3_jedi.world_model.encoder import CnnEncoder, MlpEncoder
from sb3_jedi.world_model.inner_model import LatentUNet, MlpDenoiser
from sb3_jedi.world_model.layers import Downsample2d, NormMlp, SelfAttention2d, Upsample2d
from sb3_jedi.world_model.reward_end import RewardEndModel

N_ACTIONS = 18  # full Atari action set
T = 4  # conditioning steps (paper)
LATENT = (16, 8, 8)
PIXELS = (3, 64, 64)


@pytest.fixture(autouse=True)
def _single_thread_and_seed():
    # Small models run fastest on one thread on these machines (DESIGN.md); seed for reproducible tests.
    threads = th.get_num_threads()
    th.set_num_threads(1)
    th.manual_seed(0)
    yield
    th.set_num_threads(threads)


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@th.no_grad()
def perturb_(module: nn.Module, std: float = 0.05) -> None:
    """Move every parameter off its initial value (zero-initialised layers included) to a generic point."""
    for param in module.parameters():
        param.add_(std * th.randn_like(param))


def denoiser_inputs(state_shape: tuple[int, ...], batch: int = 2) -> tuple[th.Tensor, ...]:
    return (
        th.randn(batch, *state_shape),
        th.randn(batch),
        th.randn(batch, T, *state_shape),
        th.randint(0, N_ACTIONS, (batch, T)),
    )


# ----------------------------------------------------------------------------- layers added for these networks


def test_resampling_blocks_and_norm_mlp_shapes():
    x = th.randn(2, 8, 16, 12)
    assert Downsample2d(8)(x).shape == (2, 8, 8, 6)
    assert Upsample2d(8)(x).shape == (2, 8, 32, 24)
    mlp = NormMlp(5, (7, 9), 3)
    assert mlp(th.randn(4, 5)).shape == (4, 3) and mlp.out_dim == 3
    assert NormMlp(5, (7, 9)).out_dim == 9


# ----------------------------------------------------------------------------- encoders


def test_cnn_encoder_paper_shape_and_clamp():
    encoder = CnnEncoder()
    assert encoder.latent_shape == LATENT
    obs = th.rand(2, *PIXELS) * 2 - 1
    z = encoder(obs)
    assert z.shape == (2, *LATENT)
    # Extreme inputs and an output layer scaled up (the norms alone would absorb the input scale): without
    # the clamp the latent leaves [-3, 3], with it it stays inside.
    with th.no_grad():
        encoder.stages[-1].weight.mul_(1e3)
    extreme = th.randn(2, *PIXELS) * 1e4
    unclamped = CnnEncoder(latent_clamp=None)
    unclamped.load_state_dict(encoder.state_dict())
    assert unclamped(extreme).abs().max() > 3.0
    assert encoder(extreme).abs().max() <= 3.0
    assert th.isfinite(encoder(extreme)).all()


def test_cnn_encoder_rejects_bad_images():
    encoder = CnnEncoder()
    with pytest.raises(ValueError, match=r"multiples of 8.*56 or 64"):
        encoder(th.zeros(1, 3, 60, 60))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        encoder(th.zeros(1, 1, 64, 64))
    with pytest.raises(ValueError, match=r"image_size=\(96, 96\)"):
        encoder(th.zeros(1, 3, 96, 96))
    with pytest.raises(ValueError, match="multiples of 8"):
        CnnEncoder(image_size=(60, 60))
    with pytest.raises(ValueError, match="n_downsamples"):
        CnnEncoder(n_downsamples=4)
    # Other sizes work when the encoder is built for them.
    assert CnnEncoder(in_channels=1, image_size=(96, 48)).latent_shape == (16, 12, 6)


def test_cnn_encoder_strided_stem():
    # The paper's encoder convolves the full-resolution frame (stride 1); a strided first convolution works at half
    # the resolution from the start and makes latents stem_stride times smaller again.
    assert CnnEncoder().stem_stride == 1
    assert CnnEncoder().stages[0].stride == (1, 1)
    encoder = CnnEncoder(channels=(8, 16, 16, 16), stem_stride=2)
    assert encoder.stages[0].stride == (2, 2)
    assert encoder.factor == 16
    assert encoder.latent_shape == (16, 4, 4)
    assert encoder(th.rand(3, *PIXELS) * 2 - 1).shape == (3, 16, 4, 4)
    # One stage only: the stride goes to the (linear) last convolution.
    assert CnnEncoder(channels=(4,), n_downsamples=0, stem_stride=4)(th.zeros(1, *PIXELS)).shape == (1, 4, 16, 16)
    with pytest.raises(ValueError, match="stem_stride must be 1, 2 or 4"):
        CnnEncoder(stem_stride=3)
    with pytest.raises(ValueError, match=r"multiples of 16 \(stem_stride \* 2\*\*n_downsamples\)"):
        CnnEncoder(image_size=(56, 56), stem_stride=2)


def test_mlp_encoder_shape_and_clamp():
    encoder = MlpEncoder(obs_dim=4, latent_dim=16)
    assert encoder.latent_shape == (16,)
    assert encoder(th.randn(5, 4)).shape == (5, 16)
    extreme = th.randn(5, 4) * 1e6
    with th.no_grad():
        encoder.net[-1].weight.mul_(1e3)
    unclamped = MlpEncoder(obs_dim=4, latent_dim=16, latent_clamp=None)
    unclamped.load_state_dict(encoder.state_dict())
    assert unclamped(extreme).abs().max() > 3.0
    assert encoder(extreme).abs().max() <= 3.0
    with pytest.raises(ValueError, match=r"\(B, 4\)"):
        encoder(th.randn(5, 3))


# ----------------------------------------------------------------------------- denoisers


def make_denoiser(kind: str) -> tuple[nn.Module, tuple[int, ...]]:
    if kind == "latent_unet":
        return LatentUNet(n_actions=N_ACTIONS), LATENT
    if kind == "pixel_unet":
        return LatentUNet(3, T, n_actions=N_ACTIONS, channels=[64, 64, 64, 64], depths=[2, 2, 2, 2]), PIXELS
    return MlpDenoiser(16, T, n_actions=N_ACTIONS), (16,)


@pytest.mark.parametrize("kind", ["latent_unet", "pixel_unet", "mlp"])
def test_denoiser_shape_and_zero_initial_output(kind):
    denoiser, state_shape = make_denoiser(kind)
    inputs = denoiser_inputs(state_shape)
    out = denoiser(*inputs)
    assert out.shape == (2, *state_shape)
    # DIAMOND zero-initialises the output weights: F starts by predicting its output bias, one constant per channel
    # whatever the inputs (the U-Nets keep torch's bias initialisation, as DIAMOND's; the MLP zeroes it, so 0).
    head = denoiser.conv_out if kind != "mlp" else denoiser.fc_out
    assert not head.weight.any()
    bias = head.bias.detach()
    expected = bias.expand(out.shape) if kind == "mlp" else bias[:, None, None].expand(out.shape)
    assert th.equal(out, expected)
    assert (kind == "mlp") == (not bias.any())
    # ...yet the zero output layer receives gradient, so training moves it.
    (out - inputs[0]).square().mean().backward()
    assert head.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("kind", ["latent_unet", "pixel_unet", "mlp"])
def test_denoiser_output_depends_on_every_input(kind):
    # At initialisation the output is 0 whatever the inputs; at a generic parameter point every input must matter.
    denoiser, state_shape = make_denoiser(kind)
    perturb_(denoiser)
    noisy, c_noise, cond_states, cond_actions = denoiser_inputs(state_shape)
    with th.no_grad():
        ref = denoiser(noisy, c_noise, cond_states, cond_actions)
        variants = {
            "cond_actions": denoiser(noisy, c_noise, cond_states, (cond_actions + 1) % N_ACTIONS),
            "action order": denoiser(noisy, c_noise, cond_states, cond_actions.flip(1)),
            "c_noise": denoiser(noisy, c_noise + 1.0, cond_states, cond_actions),
            "cond_states": denoiser(noisy, c_noise, cond_states + 1.0, cond_actions),
            "noisy": denoiser(noisy + 1.0, c_noise, cond_states, cond_actions),
        }
    assert ref.abs().max() > 0
    for name, out in variants.items():
        assert not th.allclose(out, ref, atol=1e-5), f"output does not depend on {name}"
    # Samples do not leak into each other (GroupNorm / LayerNorm are per sample).
    with th.no_grad():
        first = denoiser(noisy[:1], c_noise[:1], cond_states[:1], cond_actions[:1])
    assert th.allclose(first, ref[:1], atol=1e-5)


@pytest.mark.parametrize("size", [(30, 22), (7, 5), (1, 9)])
def test_multi_stage_unet_takes_any_image_size(size):
    # Mixed widths, depths and stage attention: the skips of each stage must line up at every odd size.
    denoiser = LatentUNet(
        3, T, n_actions=N_ACTIONS, channels=[16, 8, 24], depths=[1, 2, 1], cond_dim=32, attention=[True, False, True]
    )
    perturb_(denoiser)
    out = denoiser(*denoiser_inputs((3, *size)))
    assert out.shape == (2, 3, *size)
    assert th.isfinite(out).all()


def test_single_stage_unet_takes_odd_sizes():
    denoiser = LatentUNet(n_actions=N_ACTIONS, channels=32, cond_dim=32)
    perturb_(denoiser)
    assert denoiser(*denoiser_inputs((16, 7, 5))).shape == (2, 16, 7, 5)


# DIAMOND's InnerModel (github.com/eloialonso/diamond, src/models/diffusion/inner_model.py, config/agent/default.yaml:
# img_channels 3, num_steps_conditioning 4, cond_channels 256, channels [64]*4, depths [2]*4, attn_depths [0]*4),
# built with torch from that repository and counted with sum(p.numel()): 4,406,851 parameters for 18 actions, of
# which 1,152 in its action embedding (18 x 256/4). Our action embedding is a table per conditioning step
# (T x 18 x 256, see NoiseActionConditioning), so the comparison leaves both embeddings out.
DIAMOND_PIXEL_UNET_PARAMS_WITHOUT_ACTION_EMBEDDING = 4_406_851 - 1_152
# The same InnerModel with img_channels 16, channels [160], depths [2] (JEDI's latent U-Net): 5,949,392 in all.
DIAMOND_LATENT_UNET_PARAMS_WITHOUT_ACTION_EMBEDDING = 5_949_392 - 1_152


def test_unet_topology_matches_diamond_parameter_count():
    pixel = LatentUNet(3, T, n_actions=N_ACTIONS, channels=[64] * 4, depths=[2] * 4, cond_dim=256)
    latent = LatentUNet(n_actions=N_ACTIONS)  # defaults: JEDI's 160-channel stage
    for unet, expected in [
        (pixel, DIAMOND_PIXEL_UNET_PARAMS_WITHOUT_ACTION_EMBEDDING),
        (latent, DIAMOND_LATENT_UNET_PARAMS_WITHOUT_ACTION_EMBEDDING),
    ]:
        assert unet.cond.action_emb.weight.shape == (T * N_ACTIONS, 256)
        assert n_params(unet) - n_params(unet.cond.action_emb) == expected
    # DIAMOND's topology: one more up block than down blocks per stage, 2 middle blocks with attention.
    assert [len(blocks) for blocks in latent.down_blocks] == [2]
    assert [len(blocks) for blocks in latent.up_blocks] == [3]
    assert len(latent.mid_blocks) == 2
    assert all(isinstance(block.attn, SelfAttention2d) for block in latent.mid_blocks)
    assert not any(isinstance(module, SelfAttention2d) for module in latent.down_blocks.modules())
    assert not any(isinstance(module, SelfAttention2d) for module in latent.up_blocks.modules())


def test_unet_up_path_maps_back_to_the_previous_stage_channels():
    unet = LatentUNet(3, T, n_actions=N_ACTIONS, channels=[8, 16, 24], depths=[1, 1, 2], cond_dim=16, mid_depth=0)
    # Last up block of stage i consumes the stage input (previous stage's channels) and returns to them.
    assert [blocks[-1].res.conv2.out_channels for blocks in unet.up_blocks] == [8, 8, 16]
    assert [blocks[-1].res.conv1.in_channels for blocks in unet.up_blocks] == [16, 24, 40]
    assert [len(blocks) for blocks in unet.up_blocks] == [2, 2, 3]
    assert len(unet.mid_blocks) == 0
    assert unet(*denoiser_inputs((3, 12, 12))).shape == (2, 3, 12, 12)


def _attended(attention: SelfAttention2d, normalized: th.Tensor) -> th.Tensor:
    """The attention of a normalised map before the output projection, written out with einsum."""
    batch, channels, height, width = normalized.shape
    heads, head_dim = attention.n_heads, channels // attention.n_heads
    qkv = attention.qkv(normalized).reshape(batch, 3, heads, head_dim, height * width)
    query, key, value = qkv[:, 0], qkv[:, 1], qkv[:, 2]
    weights = th.einsum("bhdq,bhdk->bhqk", query, key).div(head_dim**0.5).softmax(-1)
    return th.einsum("bhqk,bhdk->bhdq", weights, value).reshape(batch, channels, height, width)


def test_self_attention_shape_zero_init_and_mixing():
    attention = SelfAttention2d(16, head_dim=8)
    assert attention.n_heads == 2
    x = th.randn(3, 16, 5, 7)
    # Zero-initialised output projection (DIAMOND): the block starts as its GroupNorm, since DIAMOND's residual is the
    # normalised input; the layout of earlier sb3-jedi models adds to the input itself and starts as the identity.
    th.testing.assert_close(attention(x), attention.norm(x))
    assert not th.allclose(attention(x), x, atol=1e-3)
    earlier = SelfAttention2d(16, head_dim=8, normalized_residual=False)
    assert th.equal(earlier(x), x)
    perturb_(earlier, std=0.2)
    th.testing.assert_close(earlier(x), x + earlier.out(_attended(earlier, earlier.norm(x))), rtol=1e-4, atol=1e-5)
    perturb_(attention, std=0.2)
    normalized = attention.norm(x)
    th.testing.assert_close(attention(x), normalized + attention.out(_attended(attention, normalized)), rtol=1e-4, atol=1e-5)
    out = attention(x)
    assert out.shape == x.shape
    assert not th.allclose(out, x)
    # Every position attends to every other: changing one position changes the output elsewhere.
    moved = x.clone()
    moved[:, :, 0, 0] += 3.0
    changed = (attention(moved) - out).abs()
    assert changed[:, :, 4, 6].max() > 1e-4
    # Samples do not mix.
    th.testing.assert_close(attention(x[:1]), out[:1])
    assert SelfAttention2d(4).n_heads == 1  # fewer channels than one head: a single head
    with pytest.raises(ValueError, match="head_dim"):
        SelfAttention2d(20, head_dim=6)  # 20 // 6 = 3 heads do not split 20 channels


def test_unet_attention_flags_are_checked():
    with pytest.raises(ValueError, match="attention"):
        LatentUNet(n_actions=N_ACTIONS, channels=[16, 16], attention=[True])
    unet = LatentUNet(n_actions=N_ACTIONS, channels=[16, 16], cond_dim=16, attention=[False, True], mid_attention=False)
    assert not any(isinstance(module, SelfAttention2d) for module in unet.down_blocks[0].modules())
    assert all(isinstance(block.attn, SelfAttention2d) for block in [*unet.down_blocks[1], *unet.up_blocks[1]])
    assert not any(isinstance(block.attn, SelfAttention2d) for block in unet.mid_blocks)


def test_denoiser_rejects_bad_inputs():
    denoiser = LatentUNet(n_actions=N_ACTIONS, channels=32, cond_dim=32)
    noisy, c_noise, cond_states, cond_actions = denoiser_inputs(LATENT)
    with pytest.raises(ValueError, match="cond_states"):
        denoiser(noisy, c_noise, cond_states[:, 1:], cond_actions)
    with pytest.raises(ValueError, match="cond_actions"):
        denoiser(noisy, c_noise, cond_states, cond_actions.float())
    with pytest.raises(ValueError, match="c_noise"):
        denoiser(noisy, c_noise[:, None], cond_states, cond_actions)
    with pytest.raises(ValueError, match="16-channel"):
        denoiser(noisy[:, :3], c_noise, cond_states[:, :, :3], cond_actions)
    with pytest.raises(ValueError, match="depths"):
        LatentUNet(n_actions=N_ACTIONS, channels=[32, 32], depths=[2])
    mlp = MlpDenoiser(16, T, n_actions=N_ACTIONS)
    with pytest.raises(ValueError, match="noisy"):
        mlp(*denoiser_inputs(LATENT))


# ----------------------------------------------------------------------------- reward / end model


REWARD_END_CASES = {
    "latent": (LATENT, {}, (64, 4, 4)),
    "pixels": (PIXELS, {"channels": (32, 32, 32, 32)}, (32, 8, 8)),  # DIAMOND's pixel reward/end model
    "vector": ((16,), {}, (256,)),
}


@pytest.mark.parametrize("case", list(REWARD_END_CASES))
def test_reward_end_shapes(case):
    state_shape, kwargs, feature_shape = REWARD_END_CASES[case]
    model = RewardEndModel(state_shape, N_ACTIONS, **kwargs)
    assert model.feature_shape == feature_shape
    states, next_states = th.randn(2, 3, *state_shape), th.randn(2, 3, *state_shape)
    actions = th.randint(0, N_ACTIONS, (2, 3))
    reward_logits, end_logits, (h, c) = model(states, actions, next_states)
    assert reward_logits.shape == (2, 3, 3) and end_logits.shape == (2, 3, 2)
    assert h.shape == c.shape == (1, 2, 512)
    init_h, init_c = model.initial_state(2, "cpu")
    assert init_h.shape == (1, 2, 512) and not init_h.any() and not init_c.any()


@pytest.mark.parametrize("case", ["latent", "vector"])
def test_reward_end_hidden_state_carries_across_calls(case):
    state_shape = REWARD_END_CASES[case][0]
    model = RewardEndModel(state_shape, N_ACTIONS, lstm_dim=32, channels=(16, 16), hidden_dim=32, cond_dim=16)
    perturb_(model)
    steps = 5
    states, next_states = th.randn(2, steps, *state_shape), th.randn(2, steps, *state_shape)
    actions = th.randint(0, N_ACTIONS, (2, steps))
    with th.no_grad():
        all_rew, all_end, all_hidden = model(states, actions, next_states)
        hidden = model.initial_state(2)
        rews, ends = [], []
        for t in range(steps):
            rew, end, hidden = model(states[:, t : t + 1], actions[:, t : t + 1], next_states[:, t : t + 1], hidden)
            rews.append(rew)
            ends.append(end)
        # The last step without the carried state differs: the comparison above is not vacuous.
        fresh_rew, _, _ = model(states[:, -1:], actions[:, -1:], next_states[:, -1:])
    assert th.allclose(th.cat(rews, dim=1), all_rew, atol=1e-5)
    assert th.allclose(th.cat(ends, dim=1), all_end, atol=1e-5)
    assert th.allclose(hidden[0], all_hidden[0], atol=1e-5) and th.allclose(hidden[1], all_hidden[1], atol=1e-5)
    assert not th.allclose(fresh_rew, all_rew[:, -1:], atol=1e-5)


def test_reward_end_depends_on_action_and_passes_gradient_to_states():
    model = RewardEndModel(LATENT, N_ACTIONS, lstm_dim=32, channels=(16, 16), hidden_dim=32, cond_dim=16)
    perturb_(model)
    states = th.randn(2, 3, *LATENT, requires_grad=True)
    next_states = th.randn(2, 3, *LATENT)
    actions = th.randint(0, N_ACTIONS, (2, 3))
    reward_logits, end_logits, _ = model(states, actions, next_states)
    other_reward_logits, _, _ = model(states, (actions + 1) % N_ACTIONS, next_states)
    assert not th.allclose(reward_logits, other_reward_logits, atol=1e-5)
    # JEDI trains the encoder through this loss: the states must receive gradient.
    (reward_logits.sum() + end_logits.sum()).backward()
    assert states.grad is not None and states.grad.abs().sum() > 0


def test_reward_end_rejects_bad_inputs_and_warns_on_huge_lstm():
    model = RewardEndModel(LATENT, N_ACTIONS, lstm_dim=32, channels=(16, 16), hidden_dim=32, cond_dim=16)
    states = th.randn(2, 3, *LATENT)
    with pytest.raises(ValueError, match="actions"):
        model(states, th.zeros(2, 4, dtype=th.long), states)
    with pytest.raises(ValueError, match="next_states"):
        model(states, th.zeros(2, 3, dtype=th.long), states[:, :2])
    with pytest.raises(ValueError, match=r"\(C, H, W\).*\(D,\)"):
        RewardEndModel((4, 4), N_ACTIONS)
    with pytest.warns(UserWarning, match="more conv stages"):
        RewardEndModel((3, 128, 128), N_ACTIONS, lstm_dim=4, channels=(4,), hidden_dim=4, cond_dim=4)


# ----------------------------------------------------------------------------- decoders


def test_cnn_decoder_paper_shape_and_range():
    decoder = CnnDecoder()
    assert decoder.output_shape == PIXELS
    images = decoder(th.randn(2, *LATENT) * 3)
    assert images.shape == (2, *PIXELS)
    assert images.abs().max() <= 1.0
    with pytest.raises(ValueError, match="latents"):
        decoder(th.randn(2, 16, 4, 4))


def test_mlp_decoder_shape():
    decoder = MlpDecoder(latent_dim=16, obs_dim=4)
    assert decoder(th.randn(5, 16)).shape == (5, 4)
    with pytest.raises(ValueError, match=r"\(B, 16\)"):
        decoder(th.randn(5, 8))


# ----------------------------------------------------------------------------- actor-critic


ACTOR_CRITIC_CASES = {
    "latent": (LATENT, {}, (64, 4, 4)),
    "pixels": (PIXELS, {"channels": (32, 32, 64, 64)}, (64, 4, 4)),  # DIAMOND's pixel actor-critic
    "vector": ((16,), {}, (256,)),
}


@pytest.mark.parametrize("case", list(ACTOR_CRITIC_CASES))
def test_actor_critic_shapes_zero_heads_and_recurrence(case):
    state_shape, kwargs, feature_shape = ACTOR_CRITIC_CASES[case]
    net = ActorCriticNetwork(state_shape, N_ACTIONS, **kwargs)
    assert net.feature_shape == feature_shape and net.lstm_dim == 512
    states = th.randn(3, *state_shape)
    logits, values, (h, c) = net(states, None)
    assert logits.shape == (3, N_ACTIONS) and values.shape == (3,)
    assert h.shape == c.shape == (3, 512)
    # DIAMOND: zero heads -> uniform policy and zero value at the start, while the LSTM state is non-trivial.
    assert th.equal(logits, th.zeros_like(logits)) and th.equal(values, th.zeros_like(values))
    assert h.abs().sum() > 0
    h0, c0 = net.initial_state(3, "cpu")
    assert h0.shape == (3, 512) and not h0.any() and not c0.any()
    # The hidden state is used: the same input from a different state gives a different next state.
    _, _, (h_next, _) = net(states, (h, c))
    assert not th.allclose(h_next, h, atol=1e-6)


def test_actor_critic_heads_depend_on_state_when_trained():
    net = ActorCriticNetwork(LATENT, N_ACTIONS, lstm_dim=32, channels=(16, 16))
    perturb_(net)
    states = th.randn(2, *LATENT)
    logits, values, _ = net(states)
    other_logits, other_values, _ = net(states + 1.0)
    assert not th.allclose(logits, other_logits, atol=1e-5)
    assert not th.allclose(values, other_values, atol=1e-5)


def test_actor_critic_downsample_options_and_errors():
    explicit = ActorCriticNetwork(LATENT, N_ACTIONS, lstm_dim=8, channels=(16, 16), downsample=(False, False))
    assert explicit.feature_shape == (16, 8, 8)
    auto = ActorCriticNetwork(PIXELS, N_ACTIONS, lstm_dim=8, channels=(8, 8, 8, 8, 8))
    assert auto.feature_shape == (8, 4, 4)  # pools 4 times, stops at 4x4
    with pytest.raises(ValueError, match="one flag per conv stage"):
        ActorCriticNetwork(LATENT, N_ACTIONS, channels=(16, 16), downsample=(True,))
    with pytest.raises(ValueError, match="max-pool"):
        ActorCriticNetwork((4, 2, 2), N_ACTIONS, lstm_dim=8, channels=(8, 8), downsample=(True, True))
    net = ActorCriticNetwork((16,), N_ACTIONS, lstm_dim=8)
    with pytest.raises(ValueError, match="hidden"):
        net(th.randn(2, 16), (th.zeros(3, 8), th.zeros(3, 8)))
    with pytest.raises(ValueError, match=r"\(B, \*\(16,\)\)"):
        net(th.randn(2, 15))


@pytest.mark.parametrize("state_shape,kwargs", [((16,), {"hidden_sizes": (16,)}), (LATENT, {"channels": (8, 8)})])
def test_a_separate_critic_keeps_value_gradients_out_of_the_actor(state_shape, kwargs):
    shared = ActorCriticNetwork(state_shape, N_ACTIONS, lstm_dim=8, **kwargs)
    assert not shared.separate_critic and shared.lstm_dim == 8  # DIAMOND: one trunk and LSTM
    net = ActorCriticNetwork(state_shape, N_ACTIONS, lstm_dim=8, separate_critic=True, **kwargs)
    perturb_(net)
    assert net.lstm_dim == 16
    h0, c0 = net.initial_state(3, "cpu")
    assert h0.shape == c0.shape == (3, 16)
    states = th.randn(3, *state_shape)
    logits, values, hidden = net(states, (h0, c0))
    logits, values, (h, c) = net(states, hidden)  # two steps: the recurrent state carries both LSTMs
    assert logits.shape == (3, N_ACTIONS) and values.shape == (3,) and h.shape == c.shape == (3, 16)
    values.pow(2).sum().backward()
    actor_parameters = [*net.trunk.parameters(), *net.lstm.parameters(), *net.actor.parameters()]
    assert all(p.grad is None or not p.grad.any() for p in actor_parameters)
    assert any(p.grad is not None and p.grad.any() for p in net.critic_lstm.parameters())
    # In a shared network the same value loss moves the actor's LSTM.
    perturb_(shared)
    shared(states)[1].pow(2).sum().backward()
    assert any(p.grad is not None and p.grad.any() for p in shared.lstm.parameters())


@pytest.mark.parametrize("separate_critic", [False, True])
@pytest.mark.parametrize("case", list(ACTOR_CRITIC_CASES))
def test_a_sequence_pass_equals_stepping_one_state_at_a_time(case, separate_critic):
    state_shape, kwargs, _ = ACTOR_CRITIC_CASES[case]
    if case == "pixels":
        kwargs = {"channels": (8, 8, 8, 8)}
    net = ActorCriticNetwork(state_shape, N_ACTIONS, lstm_dim=16, separate_critic=separate_critic, **kwargs)
    perturb_(net)
    states = th.randn(3, 5, *state_shape)
    start = tuple(0.3 * th.randn(3, net.lstm_dim) for _ in range(2))
    hidden, step_logits, step_values = start, [], []
    for t in range(states.shape[1]):
        logits, values, hidden = net(states[:, t], hidden)
        step_logits.append(logits)
        step_values.append(values)
    seq_logits, seq_values, seq_hidden = net.forward_sequence(states, start)
    th.testing.assert_close(seq_logits, th.stack(step_logits, 1), rtol=1e-4, atol=1e-5)
    th.testing.assert_close(seq_values, th.stack(step_values, 1), rtol=1e-4, atol=1e-5)
    th.testing.assert_close(seq_hidden[0], hidden[0], rtol=1e-4, atol=1e-5)
    th.testing.assert_close(seq_hidden[1], hidden[1], rtol=1e-4, atol=1e-5)
    th.testing.assert_close(net.critic_sequence(states, start), seq_values, rtol=1e-4, atol=1e-5)
    # The actor alone, step by step: the same logits, and the critic's half of the state handed back untouched.
    hidden = start
    for t in range(states.shape[1]):
        logits, hidden = net.actor_step(states[:, t], hidden)
    th.testing.assert_close(logits, step_logits[-1], rtol=1e-4, atol=1e-5)
    if separate_critic:
        assert th.equal(hidden[0][:, 16:], start[0][:, 16:]) and th.equal(hidden[1][:, 16:], start[1][:, 16:])
    # Gradients reach the weights through the sequence pass as through the steps.
    (seq_logits.sum() + seq_values.sum()).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.lstm.parameters())
    with pytest.raises(ValueError, match=r"\(B, T, \*"):
        net.forward_sequence(states[:, 0])
    with pytest.raises(ValueError, match="hidden"):
        net.forward_sequence(states, (th.zeros(2, net.lstm_dim), th.zeros(2, net.lstm_dim)))


# ----------------------------------------------------------------------------- sizes


def test_parameter_counts_at_the_atari_defaults_for_pong():
    from sb3_jedi import JEDI
    from sb3_jedi.envs import make_atari100k_env

    model = JEDI("CnnPolicy", make_atari100k_env("Pong", seed=0), buffer_size=1_000)
    assert model.action_space.n == 6
    world_model = model.policy.world_model
    counts = {
        "encoder": n_params(world_model.encoder),
        "denoiser (latent U-Net)": n_params(world_model.denoiser),
        "reward/end": n_params(world_model.reward_end_model),
        "actor-critic": n_params(model.policy.actor_critic),
        "decoder (visualisation only)": n_params(world_model.decoder),
    }
    # Measured once at the defaults (README, benchmarks/results/core_cpu.json); a change of architecture fails here.
    assert counts == {
        "encoder": 24_208,
        "denoiser (latent U-Net)": 5_954_384,
        "reward/end": 4_013_440,
        "actor-critic": 3_236_807,
        "decoder (visualisation only)": 290_147,
    }
    # The agent without its decoder, as in the paper (which reports about 13.5M): 13.23M.
    assert sum(counts.values()) - counts["decoder (visualisation only)"] == 13_228_839
    # Nothing in the world model is left out of the parts above.
    assert n_params(world_model) == 24_208 + 5_954_384 + 4_013_440 + 290_147
    # The blocks of models saved before diamond_blocks: the counts of that layout, so that their weights still fit.
    earlier = JEDI("CnnPolicy", make_atari100k_env("Pong", seed=0), buffer_size=1_000, policy_kwargs={"diamond_blocks": False})
    assert n_params(earlier.policy.world_model.reward_end_model) == 3_766_277
    assert n_params(earlier.policy.actor_critic) == 3_311_047


# DIAMOND's RewEndModel and ActorCritic built from its code (config/agent/default.yaml, 64x64 frames) for Pong's 6
# actions: 5,901,120 parameters (encoder 388,160, LSTM 5,246,976, head 265,216, action embedding 768) and 3,230,663
# (encoder 77,248).
DIAMOND_REWARD_END_PARAMS_PONG = 5_901_120
DIAMOND_ACTOR_CRITIC_PARAMS_PONG = 3_230_663


def test_diamond_baseline_reward_end_and_actor_critic_match_diamond_parameter_counts():
    from sb3_jedi import DIAMOND
    from sb3_jedi.envs import make_atari100k_env
    from sb3_jedi.world_model.layers import SmallResBlock2d

    env = make_atari100k_env("Pong", seed=0)
    model = DIAMOND("CnnPolicy", env, buffer_size=1_000)
    reward_end, actor_critic = model.policy.world_model.reward_end_model, model.policy.actor_critic
    assert n_params(reward_end) == DIAMOND_REWARD_END_PARAMS_PONG
    assert n_params(reward_end.lstm) == 5_246_976 and n_params(reward_end.head) == 265_216
    assert n_params(actor_critic) == DIAMOND_ACTOR_CRITIC_PARAMS_PONG
    assert n_params(actor_critic.trunk) == 77_248
    # DIAMOND's layout: two closing blocks with attention at 8x8, no closing norm, no output bias; one-conv blocks in the
    # actor-critic with nothing between the last max-pool and the LSTM.
    assert sum(isinstance(m, SelfAttention2d) for m in reward_end.closing_blocks) == 2 and reward_end.norm_out is None
    assert reward_end.head[-1].bias is None
    assert sum(isinstance(m, SmallResBlock2d) for m in actor_critic.trunk) == 4
    assert isinstance(actor_critic.trunk[-2], nn.MaxPool2d)
    # The layout of models saved before (diamond_blocks=False) keeps the earlier counts, so their weights still fit.
    earlier = DIAMOND("CnnPolicy", env, buffer_size=1_000, policy_kwargs={"diamond_blocks": False})
    assert n_params(earlier.policy.world_model.reward_end_model) == 5_822_597
    assert n_params(earlier.policy.actor_critic) == 3_323_527
