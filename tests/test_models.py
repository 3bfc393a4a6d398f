"""Sequence models: causality, step mode == full forward, exact history-state sizes,
mamba_ssm parameter names, config validation, training signal, reproducibility."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from l2m_sim.models import (
    GPT,
    MODELS,
    GPTConfig,
    LinearAttentionConfig,
    Mamba2Config,
    MambaConfig,
    MambaMixer,
    Mamba2Mixer,
    WindowGPT,
    WindowGPTConfig,
    GRUConfig,
)

FAST = settings(max_examples=30, deadline=None, derandomize=True)

L = 21
C = 3
M = 5
# small configs; chunk sizes below L so the chunked paths cross chunk boundaries
EXTRA = {
    "gpt": {},
    "window_gpt": dict(window=4, window_exponent=0.6, window_scale=1.0),
    "mamba": {},
    "mamba2": dict(chunk_size=8, headdim=8, ngroups=2),
    "linear_attention": dict(chunk_size=8),
    "gru": {},
    "state_core": dict(state_size=5),
    "state_core_ltv": dict(state_size=5),
}
# the linear reference learners (continuous only, per-position parameters) have their own tests
NAMES = [n for n in MODELS if n not in ("causal_linear", "linear_state")]


@pytest.fixture(autouse=True)
def one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: thread wake-ups cost more than the work
    yield
    torch.set_num_threads(old)


def build(name, discrete, seed=0, **kw):
    cls, cfg_cls = MODELS[name]
    torch.manual_seed(seed)
    cfg = cfg_cls(**{"channels": C, "vocab_size": M if discrete else None, "d_model": 16, "n_layer": 2,
                     "max_len": 64, **EXTRA[name], **kw})
    return cls(cfg)


def data(discrete, n=2, length=L, seed=1):
    g = torch.Generator().manual_seed(seed)
    if discrete:
        return torch.randint(0, M, (n, length), generator=g)
    return torch.randn(n, length, C, generator=g)


def outputs(model, x):
    out = model(x)
    return torch.cat([out[0], out[1]], -1) if isinstance(out, tuple) else out


# ----------------------------------------------------------------------------------------
# causality
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("discrete", [False, True])
@pytest.mark.parametrize("name", NAMES)
def test_causality(name, discrete):
    """Changing x_t leaves every output before t unchanged (exactly) and changes output t+1."""
    model = build(name, discrete)
    x = data(discrete)
    with torch.no_grad():
        base = outputs(model, x)
        for t in (0, 7, 8, L - 2):
            x2 = x.clone()
            x2[:, t] = (x2[:, t] + 1) % M if discrete else x2[:, t] + 3.0
            out = outputs(model, x2)
            assert torch.equal(out[:, : t + 1], base[:, : t + 1]), (name, t)
            assert not torch.allclose(out[:, t + 1], base[:, t + 1]), (name, t)


# ----------------------------------------------------------------------------------------
# step mode and the history state
# ----------------------------------------------------------------------------------------


def expected_state_size(name, cfg, p):
    """The formulas of the brief, written out independently of the library."""
    if name == "gpt":
        return 2 * cfg.n_layer * cfg.d_model * p
    if name == "window_gpt":
        return None  # checked separately against the window sequence
    if name == "mamba":
        di = cfg.expand * cfg.d_model
        return cfg.n_layer * (di * cfg.d_state + di * (cfg.d_conv - 1))
    if name == "mamba2":
        nheads = cfg.expand * cfg.d_model // cfg.headdim
        return cfg.n_layer * (nheads * cfg.headdim * cfg.d_state
                              + (nheads * cfg.headdim + 2 * cfg.ngroups * cfg.d_state) * (cfg.d_conv - 1))
    if name == "linear_attention":
        dh = cfg.d_model // cfg.n_head
        return cfg.n_layer * cfg.n_head * (dh * dh + dh)
    if name == "gru":
        return cfg.n_layer * cfg.d_model
    if name in ("state_core", "state_core_ltv"):
        return cfg.n_layer * cfg.state_size
    raise AssertionError(name)


@pytest.mark.parametrize("discrete", [False, True])
@pytest.mark.parametrize("name", NAMES)
def test_step_equals_forward_and_state_size(name, discrete):
    model = build(name, discrete)
    x = data(discrete)
    with torch.no_grad():
        full = outputs(model, x)
        state = model.init_state(x.shape[0])
        for t in range(L):
            size = model.history_state_size(t)
            assert state.position == t
            assert state.numel_per_sequence() == size
            exp = expected_state_size(name, model.config, t)
            if exp is not None:
                assert size == exp
            out, state = model.step(None if t == 0 else x[:, t - 1], state)
            out = torch.cat(out, -1) if isinstance(out, tuple) else out
            assert (out - full[:, t]).abs().max() < 1e-5 * max(1.0, float(full[:, t].abs().max()))
        assert state.numel_per_sequence() == model.history_state_size(L)


@pytest.mark.parametrize("name", ["gpt", "mamba", "mamba2", "window_gpt"])
def test_step_equals_forward_float64(name):
    model = build(name, False).double()
    x = data(False).double()
    with torch.no_grad():
        m, s = model(x)
        ms, ss = model.step_forward(x)
    assert m.dtype == torch.float64
    assert (m - ms).abs().max() < 1e-12 and (s - ss).abs().max() < 1e-12


def test_state_sizes_grow_as_documented():
    gpt = build("gpt", False)
    sizes = [gpt.history_state_size(p) for p in (0, 1, 10, 1000)]
    assert sizes == [0, 2 * 2 * 16, 2 * 2 * 16 * 10, 2 * 2 * 16 * 1000]
    mamba = build("mamba", False)
    assert mamba.history_state_size(0) == mamba.history_state_size(10**6) == 2 * 32 * (16 + 3)
    fixed = build("window_gpt", False, window=4, window_exponent=0.0)
    assert [fixed.history_state_size(p) for p in (0, 1, 2, 3, 4, 500)] == [0, 64, 128, 192, 192, 192]


@FAST
@given(window=st.integers(1, 20), gamma=st.floats(0.0, 1.0), scale=st.floats(0.05, 4.0))
def test_window_sequence(window, gamma, scale):
    model = WindowGPT(WindowGPTConfig(d_model=8, n_head=2, n_layer=1, window=window,
                                      window_exponent=gamma, window_scale=scale))
    n = 300
    w = model.window_sizes(n)
    t = np.arange(n)
    assert w[0] == 1
    assert np.all(w <= t + 1) and np.all(w >= np.minimum(window, t + 1))
    d = np.diff(w)
    assert np.all((d == 0) | (d == 1))  # never shrinks, grows at most one per step
    raw = np.array([min(i + 1, max(window, math.floor(scale * (i + 1) ** gamma))) for i in range(n)])
    assert np.all(w <= raw)  # the clip only ever slows the window down ...
    if scale * gamma <= 1:  # ... and is inactive when the raw window grows by <= 1 per step
        assert np.array_equal(w, raw)
    assert all(model.history_state_size(p) == 2 * 8 * (w[p] - 1) for p in (0, 1, 17, 299))


def test_window_state_grows_like_power():
    """window_exponent = 1/2, scale 1, window 1: w_p = floor(sqrt(p + 1)), state ~ p^(1/2)."""
    model = WindowGPT(WindowGPTConfig(d_model=8, n_head=2, n_layer=1, window=1, window_exponent=0.5,
                                      window_scale=1.0, max_len=10**6))
    for p in (0, 1, 2, 3, 8, 99, 100, 2024, 20_000):
        assert model.history_state_size(p) == 2 * 8 * (math.isqrt(p + 1) - 1)


def test_window_mask_is_the_definition():
    model = build("window_gpt", False)
    n = 40
    w = model.window_sizes(n)
    mask = model.attention_mask(n).numpy()
    for q in range(n):
        allowed = {k for k in range(n) if q - w[q] < k <= q}
        assert set(np.flatnonzero(mask[q])) == allowed


def test_blocked_window_attention_equals_dense_mask(monkeypatch):
    """The blocked forward equals one dense masked attention (block smaller than L)."""
    from l2m_sim.models import gpt as gpt_mod

    model = build("window_gpt", False, window=3, window_exponent=0.7, max_len=128)
    x = data(False, length=100)
    with torch.no_grad():
        one_block = outputs(model, x)  # L = 100 < WINDOW_BLOCK: a single block, dense mask
        monkeypatch.setattr(gpt_mod, "WINDOW_BLOCK", 7)
        blocked = outputs(model, x)
    assert (one_block - blocked).abs().max() < 1e-6


def test_full_window_equals_gpt():
    """window_exponent = window_scale = 1 attends to everything: same outputs as GPT."""
    gpt = build("gpt", False)
    win = build("window_gpt", False, window=1, window_exponent=1.0, window_scale=1.0)
    win.load_state_dict(gpt.state_dict())
    x = data(False)
    with torch.no_grad():
        assert (outputs(gpt, x) - outputs(win, x)).abs().max() < 1e-6
    assert win.history_state_size(L) == gpt.history_state_size(L)


# ----------------------------------------------------------------------------------------
# mamba_ssm compatibility and backends
# ----------------------------------------------------------------------------------------

MAMBA_SSM_KEYS = ["in_proj.weight", "conv1d.weight", "conv1d.bias", "x_proj.weight", "dt_proj.weight",
                  "dt_proj.bias", "A_log", "D", "out_proj.weight"]
MAMBA2_SSM_KEYS = ["in_proj.weight", "conv1d.weight", "conv1d.bias", "dt_bias", "A_log", "D",
                   "norm.weight", "out_proj.weight"]


def test_mamba_state_dict_names_and_shapes():
    d, N, dc, e = 48, 16, 4, 2
    mixer = MambaMixer(d, d_state=N, d_conv=dc, expand=e)
    sd = mixer.state_dict()
    assert sorted(sd) == sorted(MAMBA_SSM_KEYS)
    di, r = e * d, math.ceil(d / 16)
    shapes = {"in_proj.weight": (2 * di, d), "conv1d.weight": (di, 1, dc), "conv1d.bias": (di,),
              "x_proj.weight": (r + 2 * N, di), "dt_proj.weight": (di, r), "dt_proj.bias": (di,),
              "A_log": (di, N), "D": (di,), "out_proj.weight": (d, di)}
    assert {k: tuple(v.shape) for k, v in sd.items()} == shapes
    # S4D-real init and dt in [dt_min, dt_max]
    assert torch.allclose(-torch.exp(sd["A_log"]), -torch.arange(1, N + 1.0).expand(di, N))
    dt = torch.nn.functional.softplus(sd["dt_proj.bias"])
    assert dt.min() >= 1e-3 * (1 - 1e-5) and dt.max() <= 0.1 * (1 + 1e-5)
    model = build("mamba", False)
    keys = [k for k in model.state_dict() if k.startswith("layers.0.mixer.")]
    assert sorted(k[len("layers.0.mixer."):] for k in keys) == sorted(MAMBA_SSM_KEYS)


def test_mamba2_state_dict_names_and_shapes():
    d, N, dc, e, P, G = 32, 8, 4, 2, 16, 2
    mixer = Mamba2Mixer(d, d_state=N, d_conv=dc, expand=e, headdim=P, ngroups=G)
    sd = mixer.state_dict()
    assert sorted(sd) == sorted(MAMBA2_SSM_KEYS)
    di = e * d
    H = di // P
    conv_dim = di + 2 * G * N
    assert tuple(sd["in_proj.weight"].shape) == (2 * di + 2 * G * N + H, d)
    assert tuple(sd["conv1d.weight"].shape) == (conv_dim, 1, dc)
    assert tuple(sd["A_log"].shape) == tuple(sd["D"].shape) == tuple(sd["dt_bias"].shape) == (H,)
    assert tuple(sd["norm.weight"].shape) == (di,)


def test_mamba_backends_agree():
    base = build("mamba", False).double()
    x = data(False).double()
    outs = {}
    for backend in ("numba", "logstep", "reference"):
        for layer in base.layers:
            layer.mixer.scan_backend = backend
        out = outputs(base, x)
        grads = torch.autograd.grad(out.sum(), list(base.parameters()))
        outs[backend] = (out.detach(), grads)
    y0, g0 = outs["reference"]
    for backend in ("numba", "logstep"):
        y, g = outs[backend]
        assert (y - y0).abs().max() < 1e-12
        for a, b in zip(g, g0):
            assert (a - b).abs().max() <= 1e-10 * max(1.0, float(b.abs().max()))


def test_mamba2_backends_agree():
    model = build("mamba2", False).double()
    x = data(False).double()
    y = outputs(model, x)
    for layer in model.layers:
        layer.mixer.ssd_backend = "reference"
    yr = outputs(model, x)
    assert (y - yr).abs().max() < 1e-12


# ----------------------------------------------------------------------------------------
# training signal, reproducibility, numpy interface
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("discrete", [False, True])
@pytest.mark.parametrize("name", NAMES)
def test_training_reduces_loss(name, discrete):
    """A few AdamW steps on a fixed batch of a tiny, learnable task reduce the loss;
    every parameter receives a gradient."""
    model = build(name, discrete)
    g = torch.Generator().manual_seed(5)
    if discrete:  # w_t = w_{t-1} + 1 mod M after a random start
        x = (torch.randint(0, M, (8, 1), generator=g) + torch.arange(16)) % M
    else:  # x_t = 0.9 x_{t-1} + small noise
        e = torch.randn(8, 16, C, generator=g)
        x = torch.zeros_like(e)
        for t in range(16):
            x[:, t] = (0.9 * x[:, t - 1] if t else 0) + 0.3 * e[:, t]

    def loss_fn():
        if discrete:
            return torch.nn.functional.cross_entropy(model.logits(x).reshape(-1, M), x.reshape(-1))
        m, s = model.predict(x)
        return (torch.log(s) + 0.5 * ((x - m) / s) ** 2).mean()

    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = None
    for i in range(15):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        if i == 0:
            first = float(loss.detach())
            missing = [n for n, p in model.named_parameters() if p.grad is None]
            assert not missing
        opt.step()
    assert float(loss_fn().detach()) < first - 0.05


@pytest.mark.parametrize("name", NAMES)
def test_seeded_reproducibility(name):
    a, b = build(name, False, seed=3), build(name, False, seed=3)
    c = build(name, False, seed=4)
    x = data(False)
    with torch.no_grad():
        assert torch.equal(outputs(a, x), outputs(b, x))
        assert not torch.equal(outputs(a, x), outputs(c, x))
    assert a.count_parameters() == sum(p.numel() for p in a.parameters()) > 0


def test_default_configs_are_float32_and_small():
    x = torch.randn(2, 10, 1)
    for name, (cls, cfg_cls) in MODELS.items():
        model = cls(cfg_cls())
        m, s = model(x)
        assert m.dtype == s.dtype == torch.float32 and m.shape == s.shape == x.shape
        assert model.count_parameters() < 500_000
        assert (s > 0).all()


def test_positional_variants():
    x = data(False)
    for kw in (dict(positional=False), dict(positional_kind="sinusoidal"), dict(std_param="softplus")):
        model = build("mamba", False, **kw)
        assert ("pos_emb.weight" in model.state_dict()) == (kw.get("positional", True)
                                                            and kw.get("positional_kind", "learned") == "learned")
        with torch.no_grad():
            m, s = model(x)
            ms, ss = model.step_forward(x)
        assert (m - ms).abs().max() < 1e-5 and (s - ss).abs().max() < 1e-5
    # sinusoidal positions have no length limit
    model = build("gru", False, positional_kind="sinusoidal", max_len=8)
    assert model(data(False, length=20))[0].shape == (2, 20, C)
    # without positions the model is shift-equivariant up to the start token: position matters
    with_pos = build("gru", False)
    a = outputs(with_pos, torch.zeros(1, 6, C))
    assert not torch.allclose(a[0, 3], a[0, 4])


def test_numpy_interface():
    model = build("gpt", False)
    x = data(False, n=3).numpy().astype(np.float64)
    mean, std = model.conditional_moments(x, batch_size=2)
    assert mean.shape == x.shape and mean.dtype == np.float64
    lp = model.position_log_probs(x, batch_size=2)
    manual = (-0.5 * ((x - mean) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)).sum(-1)
    assert lp.shape == (3, L) and np.allclose(lp, manual, atol=1e-5)
    tok = build("gpt", True)
    w = data(True, n=3).numpy()
    p = tok.conditional_probs(w)
    assert p.shape == (3, L, M) and np.allclose(p.sum(-1), 1.0)
    lp = tok.position_log_probs(w)
    assert np.allclose(lp, np.log(np.take_along_axis(p, w[..., None], -1)[..., 0]), atol=1e-6)
    # one channel: (n, L) arrays in, (n, L) out
    one = GPT(GPTConfig(d_model=16, n_layer=1))
    m1, s1 = one.conditional_moments(np.zeros((2, 7)))
    assert m1.shape == (2, 7)


# ----------------------------------------------------------------------------------------
# validation
# ----------------------------------------------------------------------------------------


CFGS = [GPTConfig, WindowGPTConfig, MambaConfig, Mamba2Config, LinearAttentionConfig, GRUConfig]


@FAST
@given(cfg=st.sampled_from(CFGS), field=st.sampled_from(["channels", "d_model", "n_layer", "max_len"]),
       value=st.integers(-50, 0))
def test_config_rejects_nonpositive_sizes(cfg, field, value):
    with pytest.raises(ValueError, match=field):
        cfg(**{field: value})


@FAST
@given(cfg=st.sampled_from(CFGS), value=st.one_of(st.integers(-5, 1), st.floats(2.5, 3.5).filter(lambda v: v != 3.0)))
def test_config_rejects_bad_vocab(cfg, value):
    with pytest.raises(ValueError, match="vocab_size"):
        cfg(vocab_size=value)


@pytest.mark.parametrize(
    "cfg,kw,field",
    [
        (GPTConfig, dict(d_model=30, n_head=4), "n_head"),
        (GPTConfig, dict(mlp_ratio=0), "mlp_ratio"),
        (GPTConfig, dict(positional_kind="rope"), "positional_kind"),
        (GPTConfig, dict(std_param="abs"), "std_param"),
        (GPTConfig, dict(embed_hidden=0), "embed_hidden"),
        (WindowGPTConfig, dict(window=0), "window"),
        (WindowGPTConfig, dict(window_exponent=1.5), "window_exponent"),
        (WindowGPTConfig, dict(window_exponent=float("nan")), "window_exponent"),
        (WindowGPTConfig, dict(window_scale=0.0), "window_scale"),
        (MambaConfig, dict(d_state=0), "d_state"),
        (MambaConfig, dict(d_conv=0), "d_conv"),
        (MambaConfig, dict(dt_rank=0), "dt_rank"),
        (MambaConfig, dict(dt_min=0.2, dt_max=0.1), "dt_max"),
        (MambaConfig, dict(dt_min=-1.0), "dt_min"),
        (MambaConfig, dict(scan_backend="cuda"), "scan_backend"),
        (Mamba2Config, dict(headdim=48), "headdim"),
        (Mamba2Config, dict(ngroups=3), "ngroups"),
        (Mamba2Config, dict(chunk_size=0), "chunk_size"),
        (Mamba2Config, dict(A_init_range=(0.0, 1.0)), "A_init_range"),
        (Mamba2Config, dict(A_init_range=3.0), "A_init_range"),
        (Mamba2Config, dict(ssd_backend="x"), "ssd_backend"),
        (LinearAttentionConfig, dict(n_head=5), "n_head"),
        (LinearAttentionConfig, dict(chunk_size=-1), "chunk_size"),
    ],
)
def test_config_errors_name_the_field(cfg, kw, field):
    with pytest.raises(ValueError, match=field):
        cfg(**kw)


@pytest.mark.parametrize("cfg,kw,field", [(GPTConfig, dict(positional=1), "positional"),
                                          (MambaConfig, dict(bias="no"), "bias"),
                                          (GPTConfig, dict(d_model="64"), "d_model")])
def test_config_type_errors(cfg, kw, field):
    with pytest.raises(TypeError, match=field):
        cfg(**kw)


def test_model_input_errors():
    model = build("gpt", False)
    with pytest.raises(TypeError, match="config"):
        GPT(MambaConfig())
    with pytest.raises(TypeError, match="config"):
        GPT(WindowGPTConfig())  # distinct config types: a window config never builds a full GPT
    with pytest.raises(ValueError, match="channels"):
        model(torch.randn(2, 5, C + 1))
    with pytest.raises(ValueError, match="finite"):
        model(torch.full((1, 4, C), float("nan")))
    with pytest.raises(ValueError, match="max_len"):
        model(torch.randn(1, 65, C))
    with pytest.raises(TypeError, match="logits"):
        model.logits(torch.zeros(1, 4, dtype=torch.long))
    tok = build("gpt", True)
    with pytest.raises(TypeError, match="predict"):
        tok.predict(torch.randn(1, 4, C))
    with pytest.raises(ValueError, match="vocab_size"):
        tok(torch.full((1, 4), M))
    with pytest.raises(TypeError, match="integer"):
        tok(torch.zeros(1, 4))
    state = model.init_state(2)
    with pytest.raises(ValueError, match="position 0"):
        model.step(torch.zeros(2, C), state)
    _, state = model.step(None, state)
    with pytest.raises(ValueError, match="required"):
        model.step(None, state)
    with pytest.raises(ValueError, match="batch"):
        model.step(torch.zeros(3, C), state)
    with pytest.raises(ValueError, match="batch"):
        model.init_state(0)
    with pytest.raises(ValueError, match="position"):
        model.history_state_size(-1)


def test_model_names_have_one_source():
    """The light name lists (command line, sweep configs) are the keys of MODELS."""
    from l2m_sim._names import MODEL_NAMES, SSM_MODELS, TRAIN_MODELS

    assert tuple(MODELS) == MODEL_NAMES
    assert set(TRAIN_MODELS) <= set(MODEL_NAMES) and set(SSM_MODELS) <= set(TRAIN_MODELS)
