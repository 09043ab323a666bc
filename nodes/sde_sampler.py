from comfy_api.v0_0_2 import io

from ..adapter.sampler import SDESampler
from .common import CATEGORY, check_numbers, eta_input, order_input


class SDESamplerEta(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="SDESamplerEta",
            display_name="SDE Sampler (η: DDPM ↔ DDIM)",
            category=f"{CATEGORY}/samplers",
            description="The pack's shared sampler as a SAMPLER for SamplerCustomAdvanced: η = 1 is the reverse SDE "
                        "(DDPM / ancestral), η = 0 the ODE (DDIM). Honours a LATENT noise mask by re-injecting the "
                        "known region after every step.",
            inputs=[
                eta_input(),
                order_input(),
            ],
            outputs=[io.Sampler.Output()],
        )

    @classmethod
    def execute(cls, eta, order=1) -> io.NodeOutput:
        check_numbers(cls, eta=eta, order=order)
        return io.NodeOutput(SDESampler(eta=eta, order=order))
