"""The inpainting benchmark's metrics against hand computations: the exact conditional over the
reference scenes given the visible part, total variation, and its sampling floor."""
import math

import pytest
import torch

from lab.reference.scene_metrics import exact_conditional, sampling_floor, total_variation


def tiny_set():
    """Four 1×2×2 'images' (one channel used thrice): a hidden right column, a visible left one."""
    refs = torch.tensor([[[0.0, 0.0], [0.0, 0.0]], [[0.0, 1.0], [0.0, 1.0]],
                         [[1.0, 0.0], [1.0, 0.0]], [[0.0, 1.0], [1.0, 1.0]]])[:, None].expand(-1, 3, -1, -1)
    hidden = torch.tensor([[[0.0, 1.0], [0.0, 1.0]]])
    return refs, hidden


def test_total_variation_by_hand():
    p, q = torch.tensor([0.5, 0.5, 0.0]), torch.tensor([0.25, 0.25, 0.5])
    assert total_variation(p, q) == pytest.approx(0.5)
    assert total_variation(p, p) == 0


def test_exact_conditional_on_the_exact_model_is_uniform_over_the_consistent_scenes():
    refs, hidden = tiny_set()
    p = exact_conditional(refs, refs[:1], hidden)  # visible column (0, 0): scenes 0 and 1 agree
    assert p.sum() == pytest.approx(1.0)
    assert p[0].tolist() == pytest.approx([0.5, 0.5, 0.0, 0.0])


@pytest.mark.parametrize("tau", [0.3, 1.0])
def test_exact_conditional_on_the_blurred_model_equals_brute_force_bayes(tau):
    """p(k | v) = p(v | k) p(k) / Σ_j p(v | j) p(j), p(v | k) the Gaussian density of the visible
    latent values (2·image − 1) around scene k's, standard deviation τ, uniform prior."""
    refs, hidden = tiny_set()
    image = refs[3:4]
    p = exact_conditional(refs, image, hidden, tau)[0]
    visible = (1 - hidden).bool().expand(3, -1, -1)
    v = (2 * image[0] - 1)[visible].double()
    likelihood = []
    for ref in refs:
        m = (2 * ref - 1)[visible].double()
        density = 1.0
        for vi, mi in zip(v.tolist(), m.tolist()):
            density *= math.exp(-(vi - mi) ** 2 / (2 * tau * tau)) / math.sqrt(2 * math.pi * tau * tau)
        likelihood.append(density * 0.25)
    bayes = torch.tensor(likelihood, dtype=torch.float64) / sum(likelihood)
    assert p.sum() == pytest.approx(1.0)
    torch.testing.assert_close(p, bayes, rtol=1e-9, atol=1e-12)


def test_the_sampling_floor_is_what_n_exact_draws_score():
    """One draw from a fair coin always scores TV 0.5; two draws score 0.5 half the time and 0 the
    other half: 0.25 (within the simulation's error)."""
    coin = torch.tensor([[0.5, 0.5]], dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    assert sampling_floor(coin, 1, generator=g).item() == pytest.approx(0.5)
    assert sampling_floor(coin, 2, draws=20000, generator=g).item() == pytest.approx(0.25, abs=0.01)
    sure = torch.tensor([[0.0, 1.0]], dtype=torch.float64)
    assert sampling_floor(sure, 3, generator=g).item() == 0.0


def test_the_kl_proxy_is_calibrated_on_true_samples_and_sees_a_mean_shift():
    """True samples of the blurred model (reference + τ·z) score about 1/2 on each term (the expected
    KL of one draw's fit); moving them by c·τ towards the stroke adds c²/2 to the imprint term only."""
    from lab.reference.scene_metrics import kl_terms
    g = torch.Generator().manual_seed(0)
    refs = torch.randn(5, 3, 16, 16, generator=g)
    strokes = torch.randn(400, 3, 16, 16, generator=g)
    tau = 0.05
    x = refs[torch.arange(400) % 5] + tau * torch.randn(400, 3, 16, 16, generator=g)
    imprint_kl, noise_kl, imprint, noise = kl_terms(x, strokes, refs, 1.0, tau * tau)
    assert imprint_kl.mean().item() == pytest.approx(0.5, abs=0.1)
    assert noise_kl.mean().item() == pytest.approx(0.5, abs=0.1)
    assert noise.mean().item() == pytest.approx(1.0, abs=0.01)
    d = strokes - refs[torch.arange(400) % 5]
    shifted = x + 10 * tau * d / d.flatten(1).norm(dim=1)[:, None, None, None]
    shifted_kl, shifted_noise_kl, _, _ = kl_terms(shifted, strokes, refs, 1.0, tau * tau)
    assert (shifted_kl - imprint_kl).mean().item() == pytest.approx(50.0, rel=0.05)  # (10 + z)²/2 − z²/2, E = 50
    # the noise term is taken across the stroke direction: unchanged but for the float32 rounding of x + shift
    torch.testing.assert_close(shifted_noise_kl, noise_kl, rtol=1e-4, atol=1e-4)
