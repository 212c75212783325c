"""Shapes, initialisation, conditioning and input checks of the JEDI networks."""

import pytest
import torch as th
from torch import nn

from sb3_jedi.actor_critic import ActorCriticNetwork
from sb3_jedi.world_model.decoder import CnnDecoder, MlpDecoder
from sb3_jedi.world_model.denoiser import LatentUNet, MlpDenoiser
from sb3_jedi.world_model.encoder import CnnEncoder, MlpEncoder
from sb3_jedi.world_model.layers import Downsample2d, NormMlp, Upsample2d
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
    # DIAMOND: F starts by predicting exactly 0.
    assert th.equal(out, th.zeros_like(out))
    # ...yet the zero output layer receives gradient, so training moves it.
    (out - inputs[0]).square().mean().backward()
    head = denoiser.conv_out if kind != "mlp" else denoiser.fc_out
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


def test_multi_stage_unet_takes_any_image_size():
    denoiser = LatentUNet(3, T, n_actions=N_ACTIONS, channels=[16, 16, 16], depths=[1, 1, 1], cond_dim=32)
    perturb_(denoiser)
    out = denoiser(*denoiser_inputs((3, 30, 22)))
    assert out.shape == (2, 3, 30, 22)


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


# ----------------------------------------------------------------------------- sizes


def test_parameter_counts_at_paper_sizes():
    components = {
        "encoder (CnnEncoder)": CnnEncoder(),
        "denoiser (LatentUNet 160)": LatentUNet(n_actions=N_ACTIONS),
        "reward/end (RewardEndModel on latents)": RewardEndModel(LATENT, N_ACTIONS),
        "actor-critic (on latents)": ActorCriticNetwork(LATENT, N_ACTIONS),
    }
    counts = {name: n_params(module) for name, module in components.items()}
    total = sum(counts.values())
    extras = {
        "decoder (CnnDecoder, visualisation)": n_params(CnnDecoder()),
        "DIAMOND pixel U-Net [64]*4": n_params(LatentUNet(3, T, n_actions=N_ACTIONS, channels=[64] * 4, depths=[2] * 4)),
    }
    for name, count in {**counts, "JEDI agent total": total, **extras}.items():
        print(f"{name:45s} {count:>12,}")
    # The paper reports ~13.5M for the whole agent; stay within a factor of two of it.
    assert 6e6 < total < 27e6
