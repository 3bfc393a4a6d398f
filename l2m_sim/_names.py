"""The model names of the package, in one place.

A light module (no torch import), so that the command line and the sweep configs can list
the models without loading them; ``l2m_sim.models.MODELS`` maps exactly these names to the
classes (a test checks that the two agree).
"""

#: Every model of :data:`l2m_sim.models.MODELS`, by name.
MODEL_NAMES = ("gpt", "window_gpt", "mamba", "mamba2", "linear_attention", "gru", "state_core",
               "state_core_ltv", "causal_linear", "linear_state")
#: The models built from a width and a depth alone: ``l2m-sim train --model`` and the
#: sweeps' ``train`` job.
TRAIN_MODELS = ("gpt", "window_gpt", "mamba", "mamba2", "gru", "linear_attention")
#: The selective state-space models (the only ones with a ``d_state``).
SSM_MODELS = ("mamba", "mamba2")
#: Models whose history state is set on its own (``state_size``, from 1 float up): the
#: state-settable families of the history-state phase diagram (sweep job ``state``).
STATE_MODELS = ("state_core", "state_core_ltv", "linear_state")
#: The linear reference learners: continuous data only, no width or depth.
LINEAR_REFERENCE_MODELS = ("causal_linear", "linear_state")
#: The full-context models of the phase diagram (history state grows with the position).
FULL_CONTEXT_MODELS = ("causal_linear", "gpt")
