"""Closed-form denoisers: diffusion models whose data distribution is known exactly.

For x = a·x0 + s·ε the ideal denoiser is the posterior mean E[x0 | x]. It is closed form for a
Gaussian mixture and for the empirical distribution of a finite set of images, so a sampler driven
by it must reproduce that distribution: the tests' exact oracle, and a model that needs no checkpoint.
Latents are (B, ...) tensors; everything is computed in float64 and returned in x's dtype.
"""
import math

import torch


class GaussianMixture:
    """Mixture of Gaussians with diagonal covariances over flattened latents of shape `shape`."""

    def __init__(self, weights, means, variances, shape):
        self.weights = torch.as_tensor(weights, dtype=torch.float64)
        self.means = torch.as_tensor(means, dtype=torch.float64)  # (K, D)
        self.variances = torch.as_tensor(variances, dtype=torch.float64)  # (K, D)
        self.shape = tuple(shape)
        if self.means.shape[1] != math.prod(self.shape) or self.means.shape != self.variances.shape:
            raise ValueError("means and variances must be (K, prod(shape))")

    def posterior_mean(self, x, a: float, s: float):
        flat = x.reshape(x.shape[0], -1).to(torch.float64)[:, None, :]  # (B, 1, D)
        var = a * a * self.variances + s * s  # (K, D): variance of x given the component
        diff = flat - a * self.means
        log_p = torch.log(self.weights) - 0.5 * ((diff * diff) / var + torch.log(var)).sum(-1)  # (B, K)
        resp = torch.softmax(log_p, dim=-1)
        per_component = self.means + (a * self.variances / var) * diff  # E[x0 | x, k]
        x0 = (resp[..., None] * per_component).sum(1)
        return x0.reshape(x.shape).to(x.dtype)

    def sample(self, n: int, generator=None):
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        z = torch.randn(n, self.means.shape[1], generator=generator, dtype=torch.float64)
        return (self.means[k] + self.variances[k].sqrt() * z).reshape(n, *self.shape)


class EmpiricalImages:
    """The empirical distribution of a set of images (N, ...): the data is one of them, uniformly."""

    def __init__(self, images):
        self.images = torch.as_tensor(images).to(torch.float64)
        self.shape = tuple(self.images.shape[1:])  # one image's
        self.flat = self.images.reshape(self.images.shape[0], -1)
        self.sq_norms = (self.flat * self.flat).sum(-1)

    def weights(self, x, a: float, s: float):
        """p(image i | x), (B, N)."""
        flat = x.reshape(x.shape[0], -1).to(torch.float64)
        sq_dist = (flat * flat).sum(-1, keepdim=True) - 2 * a * flat @ self.flat.T + a * a * self.sq_norms
        return torch.softmax(-sq_dist / (2 * s * s), dim=-1)

    def posterior_mean(self, x, a: float, s: float):
        if s == 0.0:
            return self.nearest(x / a)[1].to(x.dtype)
        return (self.weights(x, a, s) @ self.flat).reshape(x.shape).to(x.dtype)

    def nearest(self, x):
        """(distance per pixel (RMS), nearest image, its index) for every element of x."""
        flat = x.reshape(x.shape[0], -1).to(torch.float64)
        sq_dist = ((flat * flat).sum(-1, keepdim=True) - 2 * flat @ self.flat.T + self.sq_norms).clamp_min(0)
        d, idx = sq_dist.min(-1)
        return (d / flat.shape[1]).sqrt(), self.images[idx].reshape(x.shape), idx


class BlurredImages(EmpiricalImages):
    """A set of images blurred by Gaussian noise: x0 = one of the images + τ·z. A Gaussian mixture
    with one isotropic component per image, written so that a step costs one (B, N) matmul: given
    x = a·x0 + s·ε, component k has x ~ N(a·m_k, v·I) with v = a²τ² + s², and
    E[x0 | x, k] = m_k + (a·τ²/v)·(x − a·m_k), so E[x0 | x] = (1 − a·c)·Σ_k p(k | x)·m_k + c·x, c = a·τ²/v.
    Unlike the empirical model, its denoiser is the identity as s → 0: it does not snap to an image."""

    def __init__(self, images, tau: float):
        super().__init__(images)
        self.tau = float(tau)

    def posterior_mean(self, x, a: float, s: float):
        v = a * a * self.tau * self.tau + s * s
        flat = x.reshape(x.shape[0], -1).to(torch.float64)
        sq_dist = (flat * flat).sum(-1, keepdim=True) - 2 * a * flat @ self.flat.T + a * a * self.sq_norms
        mean_image = torch.softmax(-sq_dist / (2 * v), dim=-1) @ self.flat
        c = a * self.tau * self.tau / v
        return ((1 - a * c) * mean_image + c * flat).reshape(x.shape).to(x.dtype)
