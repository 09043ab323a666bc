"""Recording the forward noise chain and replaying it (Cycle-SDE) gives back the starting latent to
float32 precision, for EPS, V_PREDICTION and CONST models evaluated through ComfyUI's CFGGuider, with
the paper's first-order step and with the second-order SDE-DPM-Solver++(2M) step."""
import comfy.samplers
import pytest
import torch

from fixtures import EMPTY, PARAMETERIZATIONS, gmm, gmm_model
from sde_edit_pack.adapter.guided import run_sampler
from sde_edit_pack.adapter.sampler import EditSampler
from sde_edit_pack.sampling.cycle import forward_chain, replay


class CycleReconstruct(EditSampler):
    """Forward chain from the clean latent up the schedule, then replay it down with no edit."""

    def __init__(self, eta, order=1, **kw):
        super().__init__(**kw)
        self.eta, self.order = eta, order

    def run(self, job):
        up = [0.0] + job.sigmas[::-1][1:] if job.sigmas[-1] == 0 else job.sigmas[::-1]
        chain = forward_chain(job.levels, job.latent, up, job.step_noise)
        self.top_change = (chain[-1] - job.latent).abs().max().item()
        self.model_calls = 0

        def denoise(x, sigma):
            self.model_calls += 1
            return job.denoise(x, sigma)
        return replay(denoise, job.levels, chain[-1].clone(), chain, up, self.eta, order=self.order)


@pytest.mark.parametrize("eta, order", [(1.0, 1), (0.5, 1), (1.0, 2)])
@pytest.mark.parametrize("parameterization", PARAMETERIZATIONS)
def test_recorded_noise_reconstructs_the_input(parameterization, eta, order):
    model = gmm_model(parameterization)
    ms = model.get_model_object("model_sampling")
    sigmas = comfy.samplers.calculate_sigmas(ms, "simple" if parameterization == "flow" else "normal", 60)[24:].cpu()
    x_in = gmm().sample(16, torch.Generator().manual_seed(0)).float()
    sampler = CycleReconstruct(eta, order, seed=7)
    out = run_sampler(model, EMPTY, EMPTY, 2.0, {"samples": x_in}, 7, sigmas, sampler)["samples"]
    assert sampler.top_change > 1.0  # the chain really went up to a noisy level
    assert sampler.model_calls == len(sigmas) - 1  # one batched call (edited + recorded) per step
    torch.testing.assert_close(out, x_in, rtol=0, atol=1e-5)
