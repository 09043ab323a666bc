"""The closed-form denoisers agree with each other where they describe the same distribution."""
import pytest
import torch

from lab.reference.oracles import BlurredImages, GaussianMixture


@pytest.mark.parametrize("a, s", [(1.0, 0.05), (1.0, 2.0), (0.7, 0.3), (0.0, 1.0), (1.0, 0.0)])
def test_blurred_images_is_the_gaussian_mixture_with_one_isotropic_component_per_image(a, s):
    g = torch.Generator().manual_seed(0)
    images = torch.randn(5, 2, 3, 3, generator=g, dtype=torch.float64)
    tau = 0.4
    flat = images.reshape(5, -1)
    mixture = GaussianMixture(torch.full((5,), 0.2), flat, torch.full_like(flat, tau * tau), (2, 3, 3))
    x = torch.randn(4, 2, 3, 3, generator=g, dtype=torch.float64) * 2
    assert torch.allclose(BlurredImages(images, tau).posterior_mean(x, a, s), mixture.posterior_mean(x, a, s), atol=1e-10)
