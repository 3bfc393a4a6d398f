"""Sequence models for the L2M experiment, with exact history-state accounting.

Every model is ``Model(Config(...))`` with the same interface (see
:mod:`l2m_sim.models._common`): ``model(x)`` / ``model.predict(x) -> (mean, std)`` for
continuous ``(B, L, C)`` data, ``model.logits(tokens) -> (B, L, M)`` for tokens, position
``t`` depending only on inputs before ``t``; ``model.history_state_size(position)``;
step mode ``state = model.init_state(B)``, ``out, state = model.step(x_prev, state)`` whose
state holds exactly ``history_state_size(state.position)`` floats per sequence;
``model.count_parameters()``.

=================  ======================================  =====================================
model              history state after ``p`` steps          growth
=================  ======================================  =====================================
``GPT``            ``2 n_layer d_model p``                   linear (keys + values)
``WindowGPT``      ``2 n_layer d_model (w_p - 1)``            bounded (fixed window) or ~ p^gamma
``Mamba``          ``n_layer d_inner (d_state + d_conv-1)``   constant
``Mamba2``         ``n_layer (H P N + (H P + 2 G N)(d_conv-1))``  constant
``LinearAttention`` ``n_layer (d_model d_head + d_model)``   constant
``GRU``            ``n_layer d_model``                       constant
``StateCore``      ``n_layer state_size`` (any width)        constant
``StateCoreLTV``   ``n_layer state_size`` (any width)        constant
``CausalLinear``   ``channels (p - 1)`` (reference learner)  linear
``LinearState``    ``channels state_size`` (reference)       constant
=================  ======================================  =====================================
"""

from ._common import BaseConfig, ModelState, SequenceModel
from ._scan import (
    mamba_ssm_available,
    selective_scan,
    selective_scan_logstep,
    selective_scan_numba,
    selective_scan_reference,
    ssd_chunked,
    ssd_reference,
)
from .gpt import GPT, GPTConfig, WindowGPT, WindowGPTConfig
from .mamba import Mamba, MambaConfig, MambaMixer
from .mamba2 import Mamba2, Mamba2Config, Mamba2Mixer
from .rnn import GRU, GRUConfig, LinearAttention, LinearAttentionConfig
from .statecore import StateCore, StateCoreConfig, StateCoreLTV, StateCoreLTVConfig
from .linear import CausalLinear, CausalLinearConfig, LinearState, LinearStateConfig

MODELS = {
    "gpt": (GPT, GPTConfig),
    "window_gpt": (WindowGPT, WindowGPTConfig),
    "mamba": (Mamba, MambaConfig),
    "mamba2": (Mamba2, Mamba2Config),
    "linear_attention": (LinearAttention, LinearAttentionConfig),
    "gru": (GRU, GRUConfig),
    "state_core": (StateCore, StateCoreConfig),
    "state_core_ltv": (StateCoreLTV, StateCoreLTVConfig),
    "causal_linear": (CausalLinear, CausalLinearConfig),
    "linear_state": (LinearState, LinearStateConfig),
}

__all__ = [
    "BaseConfig", "ModelState", "SequenceModel", "MODELS",
    "GPT", "GPTConfig", "WindowGPT", "WindowGPTConfig",
    "Mamba", "MambaConfig", "MambaMixer",
    "Mamba2", "Mamba2Config", "Mamba2Mixer",
    "LinearAttention", "LinearAttentionConfig", "GRU", "GRUConfig",
    "StateCore", "StateCoreConfig", "StateCoreLTV", "StateCoreLTVConfig", "CausalLinear", "CausalLinearConfig",
    "LinearState", "LinearStateConfig",
    "selective_scan", "selective_scan_reference", "selective_scan_numba", "selective_scan_logstep",
    "ssd_chunked", "ssd_reference", "mamba_ssm_available",
]
