"""From pure noise, the shared sampler run through ComfyUI's CFGGuider on an exact Gaussian-mixture
model must reproduce the mixture: weights, means and variances within tolerances set by the sample
size (Z standard errors), for EPS, V_PREDICTION and CONST models, with the SDE (η = 1) and the ODE
(η = 0)."""
import math

import comfy.samplers
import pytest
import torch

from fixtures import EMPTY, GMM_SHAPE, PARAMETERIZATIONS, gmm, gmm_model
from sde_edit_pack.adapter.guided import run_sampler
from sde_edit_pack.adapter.sampler import SDESampler

N = 4000
STEPS = 300  # the discretisation bias of a first-order step is O(1/steps): here well under one SE
Z = 4.5  # 52 checks per run: a correct sampler fails one with probability < 1e-3


@pytest.mark.parametrize("eta", [1.0, 0.0], ids=["sde", "ode"])
@pytest.mark.parametrize("parameterization", PARAMETERIZATIONS)
def test_sampler_reproduces_the_mixture(parameterization, eta):
    model, mixture = gmm_model(parameterization), gmm()
    ms = model.get_model_object("model_sampling")
    sigmas = comfy.samplers.calculate_sigmas(ms, "simple" if parameterization == "flow" else "karras", STEPS).cpu()
    latent = {"samples": torch.zeros(N, *GMM_SHAPE)}
    out = run_sampler(model, EMPTY, EMPTY, 1.0, latent, 1234, sigmas, SDESampler(eta=eta))["samples"]
    x = out.reshape(N, -1).double()
    assert torch.isfinite(x).all()
    component = torch.cdist(x, mixture.means).argmin(1)
    for k in range(len(mixture.weights)):
        pi, mu, var = float(mixture.weights[k]), mixture.means[k], mixture.variances[k]
        members = x[component == k]
        n_k = members.shape[0]
        assert abs(n_k / N - pi) < Z * math.sqrt(pi * (1 - pi) / N), f"weight of component {k}"
        mean_err = (members.mean(0) - mu).abs()
        assert (mean_err < Z * (var / n_k).sqrt()).all(), f"mean of component {k}: error {mean_err.tolist()}"
        var_err = (members.var(0) - var).abs()
        assert (var_err < Z * var * math.sqrt(2 / (n_k - 1))).all(), \
            f"variance of component {k}: {members.var(0).tolist()} vs {var.tolist()}"
