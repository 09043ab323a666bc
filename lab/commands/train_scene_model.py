"""Train the pack's scene model: ComfyUI's UNet and CLIP text transformer at small widths, on the
train split of the scene world (lab/reference/scene_world.py), with caption conditioning and caption
dropout (so CFG means something). Seeded; stops at --steps or --minutes, whichever comes first.

    .venv/bin/python -m lab.commands.train_scene_model --out lab/models/sde_edit_scene_model.safetensors

Writes the weights (EMA, float16 safetensors with the run's settings in the metadata) and a JSON log
of the loss next to them (<out>.log.json). v-prediction on SD1's scaled-linear schedule (ComfyUI's
V_PREDICTION model type, as SD2's 768-v models: an ε-model's small errors at high noise become large
errors in its clean-image estimate, which wrecked the samples of a first ε run at 500 steps),
min-SNR-5 weighting, AdamW, EMA 0.999.
"""
import argparse
import json
import math
import os
import random
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))  # the repository root


# The trainable scene model. Its architecture, file format and loading are the pack's
# (lab/reference/scene_model.py, passed in as `scene_model`); what only training needs is here.

def training_ops():
    """ComfyUI's layer classes skip weight initialisation (checkpoints fill them); training needs
    torch's own initialisation, so each class gets its torch base class's reset_parameters back."""
    import comfy.ops
    base = comfy.ops.disable_weight_init

    def initialised(cls, torch_cls):
        def reset_parameters(self):
            if torch_cls is torch.nn.Embedding:
                self.bias = None
            return torch_cls.reset_parameters(self)
        return type(cls.__name__, (cls,), {"reset_parameters": reset_parameters})

    class TrainingOps(base):
        Linear = initialised(base.Linear, torch.nn.Linear)
        Conv2d = initialised(base.Conv2d, torch.nn.Conv2d)
        Conv3d = initialised(base.Conv3d, torch.nn.Conv3d)
        GroupNorm = initialised(base.GroupNorm, torch.nn.GroupNorm)
        LayerNorm = initialised(base.LayerNorm, torch.nn.LayerNorm)
        Embedding = initialised(base.Embedding, torch.nn.Embedding)
    return TrainingOps


def build_text_encoder(scene_model):
    """SD1ClipModel (ComfyUI's CLIP wrapper) around the small transformer, its weights initialised by
    torch (seeded by the caller), then frozen."""
    SceneClip, _ = scene_model.text_encoder_classes()
    model = SceneClip(dtype=torch.float32)
    model.clip_l.transformer = type(model.clip_l.transformer)(scene_model.CLIP_CONFIG, torch.float32, "cpu", training_ops())
    model.requires_grad_(False)
    model.eval()
    return model


def save_weights(scene_model, path: str, unet: torch.nn.Module, text_encoder: torch.nn.Module, meta: dict):
    """UNet in float16; the text encoder in float32, exactly the weights the UNet was trained on."""
    import safetensors.torch
    sd = {scene_model.UNET_PREFIX + k: v.detach().to(torch.float16).contiguous() for k, v in unet.state_dict().items()}
    sd.update({scene_model.CLIP_PREFIX + k: v.detach().float().contiguous() for k, v in text_encoder.state_dict().items()})
    meta = {"format": scene_model.FORMAT, "version": scene_model.FORMAT_VERSION,
            **{k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()}}
    safetensors.torch.save_file(sd, path, metadata=meta)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=os.path.join(ROOT, "lab", "models", "sde_edit_scene_model.safetensors"))
    p.add_argument("--steps", type=int, default=2200)
    p.add_argument("--minutes", type=float, default=50.0, help="stop early at this wall-clock budget")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=4e-4)
    p.add_argument("--train-size", type=int, default=20000)
    p.add_argument("--caption-dropout", type=float, default=0.15)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                   help="where to train (default: the GPU when there is one; the shipped run was on the CPU)")
    args = p.parse_args()

    from lab.harness.comfy_host import boot_comfyui, load_package, PACKAGE
    from lab.harness.find_comfyui import PACK_DIR
    boot_comfyui()
    pack = load_package(PACKAGE, PACK_DIR)
    from importlib import import_module
    scene_model = import_module("lab.reference.scene_model")
    world = import_module("lab.reference.scene_world")

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    started = time.time()

    train, _ = world.split(args.train_size, 0, seed=0)
    images = world.render_all(train) * 2 - 1  # the pixel_space VAE's latent: [-1, 1]
    tok = scene_model.text_encoder_classes()[1]()  # the tokenizer CLIPTextEncode uses

    def token_ids(text):
        return [t for t, _ in tok.tokenize_with_weights(text)["l"][0]]

    dev = torch.device(args.device)
    unet = scene_model.build_unet(training_ops())
    text = build_text_encoder(scene_model)  # frozen: captions are embedded once
    unet.train()
    with torch.no_grad():
        contexts = torch.cat([text.clip_l([token_ids(w.caption) for w in train[i:i + 500]])[0] for i in range(0, len(train), 500)])
        empty = text.clip_l([token_ids("")])[0]
    unet.to(dev)
    images, contexts, empty = images.to(dev), contexts.to(dev), empty.to(dev)
    print(f"data: {len(train)} scenes rendered, captions embedded in {time.time() - started:.0f} s", flush=True)
    params = list(unet.parameters())
    print(f"parameters: UNet {sum(p.numel() for p in unet.parameters()) / 1e6:.2f} M, "
          f"text encoder {sum(p.numel() for p in text.parameters()) / 1e6:.2f} M", flush=True)
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    ema_unet = {k: v.detach().clone() for k, v in unet.state_dict().items()}

    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2  # SD1's schedule
    alphas_cumprod = torch.cumprod(1 - betas, 0).float().to(dev)
    log, step = [], 0
    warmup = 200
    while step < args.steps and (time.time() - started) / 60 < args.minutes:
        idx = torch.tensor([rng.randrange(len(train)) for _ in range(args.batch)], device=dev)
        x0 = images[idx]
        dropped = torch.tensor([rng.random() < args.caption_dropout for _ in range(args.batch)], device=dev)
        context = torch.where(dropped[:, None, None], empty, contexts[idx])
        t = torch.randint(0, 1000, (args.batch,)).to(dev)  # drawn on the CPU: the same draws on any device
        ab = alphas_cumprod[t][:, None, None, None]
        noise = torch.randn(x0.shape).to(dev)
        xt = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
        with torch.autocast(dev.type, dtype=torch.bfloat16):  # AMX: twice the fp32 speed on this CPU
            pred = unet(xt, timesteps=t.float(), context=context).float()
        target = ab.sqrt() * noise - (1 - ab).sqrt() * x0  # v-prediction: x0 = √ᾱ·x_t − √(1 − ᾱ)·v
        snr = ab / (1 - ab)
        weight = (snr.clamp(max=5.0) / (snr + 1)).flatten()  # min-SNR-5, in v's units
        loss = (weight * ((pred - target) ** 2).flatten(1).mean(1)).mean()
        # cosine decay over the run: by steps, or by the wall-clock budget if that binds first
        progress = min(1.0, max(step / args.steps, (time.time() - started) / 60 / args.minutes))
        lr = args.lr * min(1.0, (step + 1) / warmup) * (0.5 + 0.5 * math.cos(math.pi * progress))
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        decay = min(0.999, (1 + step) / (10 + step))
        with torch.no_grad():
            for k, v in unet.state_dict().items():
                ema_unet[k].mul_(decay).add_(v.detach(), alpha=1 - decay)
        step += 1
        log.append({"step": step, "loss": float(loss.detach()), "seconds": round(time.time() - started, 1)})
        if step % 50 == 0:
            recent = sum(e["loss"] for e in log[-50:]) / 50
            print(f"step {step}  loss {recent:.4f}  lr {lr:.2e}  {time.time() - started:.0f} s", flush=True)
        if step % 500 == 0 or step == args.steps:
            _save(args, scene_model, unet, text, ema_unet, log, step, started)
    _save(args, scene_model, unet, text, ema_unet, log, step, started)
    print(f"done: {step} steps in {(time.time() - started) / 60:.1f} min -> {args.out}", flush=True)


def _save(args, scene_model, unet, text, ema_unet, log, step, started):
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    live_unet = {k: v.clone() for k, v in unet.state_dict().items()}
    unet.load_state_dict(ema_unet)
    meta = {"prediction": "v", "steps": str(step), "batch": str(args.batch), "lr": str(args.lr), "train_size": str(args.train_size),
            "caption_dropout": str(args.caption_dropout), "seed": str(args.seed),
            "minutes": f"{(time.time() - started) / 60:.1f}", "command": "lab/commands/train_scene_model.py"}
    tmp = args.out + ".partial"
    save_weights(scene_model, tmp, unet.cpu(), text, meta)
    os.chmod(tmp, 0o644)  # safetensors writes 0600; the weights are shipped
    os.replace(tmp, args.out)
    unet.load_state_dict(live_unet)
    unet.to(live_unet[next(iter(live_unet))].device)
    with open(args.out + ".log.json", "w") as f:
        json.dump({"meta": meta, "loss": [[e["step"], round(e["loss"], 5), e["seconds"]] for e in log]}, f)


if __name__ == "__main__":
    main()
