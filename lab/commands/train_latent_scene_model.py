"""Train the latent scene model (lab/reference/latent_scene_model.py): first ComfyUI's AutoencoderKL on
128×128 scene-world pictures (8× down, 4 channels), then ComfyUI's UNetModel on its 16×16×4 latents
with caption conditioning and caption dropout. Seeded; each stage stops at its --*-steps or its
--*-minutes (that stage's whole budget, earlier runs included), whichever comes first.

    .venv/bin/python -m lab.commands.train_latent_scene_model               # both stages, on the CPU
    .venv/bin/python -m lab.commands.train_latent_scene_model --stage decoder   # then the decoder alone
    .venv/bin/python -m lab.commands.train_latent_scene_model --resume \\
        --unet-steps 20000 --unet-minutes 600 --device cuda             # train on, longer, on a GPU

Writes lab/models/sde_edit_scene_vae.safetensors and lab/models/sde_edit_latent_scene_model.safetensors
(float16; the run's settings in the metadata), a JSON log of each stage's loss next to them, and a
resumable state per stage under out/train_latent_scene_model/ (not shipped). The VAE: L1 on random
64×64 crops for the first half of its budget, then on whole pictures (its GroupNorms normalise over
the picture, so a crop's statistics are not a whole picture's: crop training alone reconstructed
whole pictures worse than crops, 0.24 against 0.18 L1), plus a KL term of 1e-6 as SD's. The UNet: as lab/commands/train_scene_model (v-prediction on SD1's schedule, min-SNR-5,
caption dropout 15 %, AdamW, EMA 0.999) on the latents' means times the measured latent scale. The
decoder stage (not in "all"): the trained VAE's decoder alone, its encoder frozen, with object pixels
weighted in the L1 (train_decoder).
"""
import argparse
import json
import math
import os
import random
import time

import safetensors
import torch

from .train_scene_model import build_text_encoder, training_ops

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))  # the repository root
STATE_DIR = os.path.join(ROOT, "out", "train_latent_scene_model")  # --state
KL_WEIGHT = 1e-6


def initialise(module):
    """torch's own initialisation for ComfyUI's layers, which skip it (a checkpoint fills them). The
    UNet gets the same through training_ops(); AutoencoderKL takes no operations, so its layers are
    initialised after it is built."""
    for m in module.modules():
        for cls in (torch.nn.Conv2d, torch.nn.Linear, torch.nn.GroupNorm, torch.nn.LayerNorm):
            if isinstance(m, cls):
                cls.reset_parameters(m)
                break
    return module


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m lab.commands.train_latent_scene_model", description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=os.path.join(ROOT, "lab", "models"), help="folder the two weights files are written to")
    p.add_argument("--stage", choices=("all", "vae", "unet", "decoder"), default="all",
                   help="decoder: fine-tune the trained VAE's decoder alone (the latents, and so the UNet, stay valid)")
    p.add_argument("--vae-steps", type=int, default=2000)
    p.add_argument("--vae-minutes", type=float, default=25.0)
    p.add_argument("--vae-batch", type=int, default=12)
    p.add_argument("--vae-lr", type=float, default=1e-3)
    p.add_argument("--vae-pictures", type=int, default=4000)
    p.add_argument("--vae-whole-after", type=float, default=0.5,
                   help="share of the VAE's budget after which it trains on whole pictures instead of 64×64 crops")
    p.add_argument("--decoder-steps", type=int, default=4000)
    p.add_argument("--decoder-minutes", type=float, default=15.0)
    p.add_argument("--decoder-batch", type=int, default=4)
    p.add_argument("--decoder-lr", type=float, default=2e-4)
    p.add_argument("--object-weight", type=float, default=10.0,
                   help="the decoder's L1 on object pixels counts this many times a background pixel's")
    p.add_argument("--unet-steps", type=int, default=2000)
    p.add_argument("--unet-minutes", type=float, default=60.0, help="includes encoding the training pictures")
    p.add_argument("--unet-batch", type=int, default=64)
    p.add_argument("--unet-lr", type=float, default=6e-4)
    p.add_argument("--train-size", type=int, default=5000)
    p.add_argument("--caption-dropout", type=float, default=0.15)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--resume", action="store_true", help="go on from the saved state of each stage")
    p.add_argument("--state", default=STATE_DIR, help="folder of the resumable states")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                   help="where to train (default: the GPU when there is one; the shipped run was on the CPU)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from lab.harness.comfy_host import boot_comfyui
    boot_comfyui()
    from lab.reference import latent_scene_model as lsm, scene_model, scene_world as sw
    torch.set_num_threads(args.threads)
    os.makedirs(args.state, exist_ok=True)
    os.makedirs(args.models, exist_ok=True)
    if args.stage in ("all", "vae"):
        train_vae(args, lsm, sw)
    if args.stage in ("all", "unet"):
        train_unet(args, lsm, scene_model, sw)
    if args.stage == "decoder":
        train_decoder(args, lsm, sw)


class Run:
    """A stage's step counter, wall clock (summed over resumed runs), loss log and resumable state."""

    def __init__(self, name, args, steps, minutes):
        self.name, self.args, self.steps, self.minutes = name, args, steps, minutes
        self.path = os.path.join(args.state, f"{name}.pt")
        self.step, self.log, self.earlier = 0, [], 0.0
        self.started = time.time()

    def resume(self, modules: dict):
        if not (self.args.resume and os.path.exists(self.path)):
            return False
        state = torch.load(self.path, map_location="cpu", weights_only=False)
        for key, module in modules.items():
            module.load_state_dict(state[key])
        self.step, self.log, self.earlier = state["step"], state["log"], state["seconds"]
        random.setstate(state["python_rng"])
        torch.set_rng_state(state["torch_rng"])
        print(f"{self.name}: resumed at step {self.step} ({self.earlier / 60:.1f} min done)", flush=True)
        return True

    def save(self, modules: dict):
        state = {key: m.state_dict() for key, m in modules.items()}
        state.update(step=self.step, log=self.log, seconds=self.seconds(), python_rng=random.getstate(),
                     torch_rng=torch.get_rng_state())
        torch.save(state, self.path + ".partial")
        os.replace(self.path + ".partial", self.path)

    def seconds(self):
        return self.earlier + time.time() - self.started

    def going(self):
        return self.step < self.steps and self.seconds() / 60 < self.minutes

    def progress(self):
        return min(1.0, max(self.step / self.steps, self.seconds() / 60 / self.minutes))

    def lr(self, base, warmup):
        """Linear warm-up, then a cosine decay over the stage (by steps, or by its budget if that binds first)."""
        return base * min(1.0, (self.step + 1) / warmup) * (0.5 + 0.5 * math.cos(math.pi * self.progress()))

    def record(self, loss, **extra):
        self.step += 1
        self.log.append([self.step, round(float(loss), 6), round(self.seconds(), 1), *extra.values()])
        if self.step % 25 == 0:
            recent = sum(e[1] for e in self.log[-25:]) / 25
            print(f"{self.name} step {self.step}  loss {recent:.5f}  {self.seconds():.0f} s", flush=True)


def pictures(sw, n, seed):
    """(n, 3, 128, 128) uint8 renders of the train split (rendered once, kept as bytes) and its worlds."""
    train, _ = sw.split(n, 0, seed=seed, size=128)
    images = torch.stack([(sw.render(w) * 255).round().to(torch.uint8) for w in train])
    return images, train


def train_vae(args, lsm, sw):
    dev = torch.device(args.device)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    images, _ = pictures(sw, args.vae_pictures, seed=args.seed + 1)  # not the UNet's pictures
    vae = initialise(lsm.build_vae()).to(dev)
    opt = torch.optim.AdamW(vae.parameters(), lr=args.vae_lr, weight_decay=0.0)
    run = Run("vae", args, args.vae_steps, args.vae_minutes)
    run.resume({"vae": vae, "opt": opt})
    vae.train()
    print(f"vae: {sum(p.numel() for p in vae.parameters()) / 1e6:.2f} M parameters, {len(images)} pictures", flush=True)
    while run.going():
        whole = run.progress() > args.vae_whole_after
        idx = [random.randrange(len(images)) for _ in range(args.vae_batch // (4 if whole else 1))]
        batch = images[idx].float() / 255
        if not whole:  # 64×64 crops on the latent grid, half of them mirrored
            crops = []
            for b in batch:
                y, x = 8 * random.randrange(9), 8 * random.randrange(9)
                c = b[:, y:y + 64, x:x + 64]
                crops.append(c.flip(-1) if random.random() < 0.5 else c)
            batch = torch.stack(crops)
        x = batch.to(dev) * 2 - 1
        h = vae.quant_conv(vae.encoder(x))
        mean, logvar = h.chunk(2, 1)
        logvar = logvar.clamp(-30, 20)
        z = mean + torch.randn_like(mean) * (0.5 * logvar).exp()
        y = vae.decoder(vae.post_quant_conv(z))
        rec = (y - x).abs().mean()
        kl = 0.5 * (mean ** 2 + logvar.exp() - 1 - logvar).sum((1, 2, 3)).mean()
        loss = rec + KL_WEIGHT * kl
        for g in opt.param_groups:
            g["lr"] = run.lr(args.vae_lr, warmup=50)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        run.record(rec.detach(), kl=round(float(kl.detach()), 2))
        if run.step % 100 == 0:
            run.save({"vae": vae, "opt": opt})
    run.save({"vae": vae, "opt": opt})
    vae.eval()
    save_vae(args, lsm, vae.cpu(), run)
    print(f"vae done: {run.step} steps in {run.seconds() / 60:.1f} min", flush=True)


def object_masks(sw, worlds):
    """(n, 1, S, S) uint8: 255 where an object covers the pixel (the union of their coverages)."""
    masks = []
    for w in worlds:
        cover = torch.zeros(w.size, w.size)
        for obj in w.objects:
            cover = torch.maximum(cover, sw.coverage(obj, w.size))
        masks.append((cover * 255).round().to(torch.uint8)[None])
    return torch.stack(masks)


def train_decoder(args, lsm, sw):
    """Fine-tune the shipped VAE's decoder alone, its encoder frozen, as SD's ft-EMA / ft-MSE decoders
    were: the latents do not change, so the UNet trained on them stays valid. Its L1 counts an object's
    pixels `--object-weight` times a background pixel's: objects are 1-11 % of a picture, and the
    whole-picture L1 let the first training wash out their colours and drop small ones."""
    dev = torch.device(args.device)
    torch.manual_seed(args.seed + 2)
    random.seed(args.seed + 2)
    images, worlds = pictures(sw, args.vae_pictures, seed=args.seed + 1)  # the VAE's own pictures
    masks = object_masks(sw, worlds)
    vae = load_trained_vae(args, lsm).to(dev)
    trained = [vae.decoder, vae.post_quant_conv]
    for m in trained:
        m.requires_grad_(True)
    params = [p for m in trained for p in m.parameters()]
    opt = torch.optim.AdamW(params, lr=args.decoder_lr, weight_decay=0.0)
    run = Run("decoder", args, args.decoder_steps, args.decoder_minutes)
    run.resume({"decoder": vae.decoder, "post_quant_conv": vae.post_quant_conv, "opt": opt})
    vae.decoder.train()
    print(f"decoder: {sum(p.numel() for p in params) / 1e6:.2f} M parameters trained, {len(images)} pictures", flush=True)
    while run.going():
        idx = [random.randrange(len(images)) for _ in range(args.decoder_batch)]
        x = images[idx].to(dev).float() / 255 * 2 - 1
        weight = 1 + (args.object_weight - 1) * masks[idx].to(dev).float() / 255
        with torch.no_grad():
            mean, logvar = vae.quant_conv(vae.encoder(x)).chunk(2, 1)
            z = mean + torch.randn_like(mean) * (0.5 * logvar.clamp(-30, 20)).exp()
        y = vae.decoder(vae.post_quant_conv(z))
        loss = (weight * (y - x).abs()).mean() / weight.mean()
        for g in opt.param_groups:
            g["lr"] = run.lr(args.decoder_lr, warmup=50)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        run.record(loss.detach(), l1=round(float((y.detach() - x).abs().mean()), 5))
        if run.step % 100 == 0:
            run.save({"decoder": vae.decoder, "post_quant_conv": vae.post_quant_conv, "opt": opt})
    run.save({"decoder": vae.decoder, "post_quant_conv": vae.post_quant_conv, "opt": opt})
    vae.eval().requires_grad_(False)
    save_decoder(args, lsm, vae.cpu(), run)
    print(f"decoder done: {run.step} steps in {run.seconds() / 60:.1f} min", flush=True)


def save_vae(args, lsm, vae, run):
    import safetensors.torch
    sd = {k: v.detach().to(torch.float16).contiguous() for k, v in vae.state_dict().items()}
    meta = {"format": lsm.VAE_FORMAT, "version": lsm.VAE_FORMAT_VERSION, "ddconfig": json.dumps(lsm.VAE_DDCONFIG),
            "steps": str(run.step), "minutes": f"{run.seconds() / 60:.1f}", "batch": str(args.vae_batch),
            "lr": str(args.vae_lr), "pictures": str(args.vae_pictures), "kl_weight": str(KL_WEIGHT), "seed": str(args.seed),
            "command": "python -m lab.commands.train_latent_scene_model"}
    _write(os.path.join(args.models, lsm.VAE_NAME), sd, meta, run)


def save_decoder(args, lsm, vae, run):
    """The VAE file with its fine-tuned decoder: the first training's metadata and loss log kept, the
    decoder's added beside them."""
    path = os.path.join(args.models, lsm.VAE_NAME)
    with safetensors.safe_open(path, "pt") as f:
        meta = dict(f.metadata())
    with open(path + ".log.json") as f:
        first = json.load(f)
    meta.update(decoder_steps=str(run.step), decoder_minutes=f"{run.seconds() / 60:.1f}", decoder_batch=str(args.decoder_batch),
                decoder_lr=str(args.decoder_lr), object_weight=str(args.object_weight),
                decoder_command="python -m lab.commands.train_latent_scene_model --stage decoder")
    sd = {k: v.detach().to(torch.float16).contiguous() for k, v in vae.state_dict().items()}
    _write(path, sd, meta, run)
    with open(path + ".log.json", "w") as f:
        json.dump({"meta": meta, "loss": first["loss"], "decoder_loss": run.log}, f)


def _write(path, sd, meta, run):
    import safetensors.torch
    safetensors.torch.save_file(sd, path + ".partial", metadata=meta)
    os.chmod(path + ".partial", 0o644)  # safetensors writes 0600; the weights are shipped
    os.replace(path + ".partial", path)
    with open(path + ".log.json", "w") as f:
        json.dump({"meta": meta, "loss": run.log}, f)


def load_trained_vae(args, lsm):
    import safetensors.torch
    vae = lsm.build_vae()
    vae.load_state_dict({k: v.float() for k, v in safetensors.torch.load_file(os.path.join(args.models, lsm.VAE_NAME)).items()})
    vae.requires_grad_(False)
    return vae.eval()


def latent_statistics(latents, images):
    """The latent scale (1 / the means' standard deviation, as SD's 0.18215) and a linear map from the
    scaled latent to RGB in [-1, 1] (least squares on 8×8 averages: ComfyUI's latent preview)."""
    scale = float(1.0 / latents.std())
    z = (latents * scale).movedim(1, -1).reshape(-1, latents.shape[1])
    rgb = torch.nn.functional.avg_pool2d(images.float() / 255 * 2 - 1, 8).movedim(1, -1).reshape(-1, 3)
    a = torch.cat([z, torch.ones(len(z), 1)], 1)
    solution = torch.linalg.lstsq(a, rgb).solution  # (5, 3)
    return scale, solution[:-1].tolist(), solution[-1].tolist()


def train_unet(args, lsm, scene_model, sw):
    dev = torch.device(args.device)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    run = Run("unet", args, args.unet_steps, args.unet_minutes)
    vae = load_trained_vae(args, lsm).to(dev)
    images, train = pictures(sw, args.train_size, seed=args.seed)
    with torch.no_grad():
        latents = torch.cat([lsm.encode_mean(vae, images[i:i + 32].to(dev).float() / 255).cpu() for i in range(0, len(images), 32)])
    scale, rgb_factors, rgb_bias = latent_statistics(latents, images)
    print(f"unet data: {len(train)} pictures encoded in {time.time() - run.started:.0f} s; latent std {1 / scale:.3f}", flush=True)

    tok = scene_model.text_encoder_classes()[1]()

    def token_ids(text):
        return [t for t, _ in tok.tokenize_with_weights(text)["l"][0]]

    unet = lsm.build_unet(training_ops())
    text = build_text_encoder(scene_model)
    with torch.no_grad():
        contexts = torch.cat([text.clip_l([token_ids(w.caption) for w in train[i:i + 500]])[0] for i in range(0, len(train), 500)])
        empty = text.clip_l([token_ids("")])[0]
    opt = torch.optim.AdamW(unet.parameters(), lr=args.unet_lr, weight_decay=0.0)
    ema = lsm.build_unet(training_ops())
    ema.load_state_dict(unet.state_dict())
    run.resume({"unet": unet, "ema": ema, "opt": opt})
    unet.to(dev).train()
    ema.to(dev)
    x_all, contexts, empty = (latents * scale).to(dev), contexts.to(dev), empty.to(dev)
    print(f"unet: {sum(p.numel() for p in unet.parameters()) / 1e6:.2f} M parameters", flush=True)
    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2  # SD1's schedule
    alphas_cumprod = torch.cumprod(1 - betas, 0).float().to(dev)
    while run.going():
        idx = torch.tensor([rng.randrange(len(train)) for _ in range(args.unet_batch)], device=dev)
        x0 = x_all[idx]
        dropped = torch.tensor([rng.random() < args.caption_dropout for _ in range(args.unet_batch)], device=dev)
        context = torch.where(dropped[:, None, None], empty, contexts[idx])
        t = torch.randint(0, 1000, (args.unet_batch,)).to(dev)  # drawn on the CPU: the same draws on any device
        ab = alphas_cumprod[t][:, None, None, None]
        noise = torch.randn(x0.shape).to(dev)
        xt = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
        pred = unet(xt, timesteps=t.float(), context=context).float()
        target = ab.sqrt() * noise - (1 - ab).sqrt() * x0  # v-prediction
        snr = ab / (1 - ab)
        weight = (snr.clamp(max=5.0) / (snr + 1)).flatten()  # min-SNR-5, in v's units
        loss = (weight * ((pred - target) ** 2).flatten(1).mean(1)).mean()
        for g in opt.param_groups:
            g["lr"] = run.lr(args.unet_lr, warmup=100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        decay = min(0.999, (1 + run.step) / (10 + run.step))
        with torch.no_grad():
            for e, p in zip(ema.parameters(), unet.parameters()):
                e.mul_(decay).add_(p.detach(), alpha=1 - decay)
        run.record(loss.detach())
        if run.step % 100 == 0:
            run.save({"unet": unet, "ema": ema, "opt": opt})
            save_unet(args, lsm, scene_model, ema, text, run, scale, rgb_factors, rgb_bias)
    run.save({"unet": unet, "ema": ema, "opt": opt})
    save_unet(args, lsm, scene_model, ema, text, run, scale, rgb_factors, rgb_bias)
    print(f"unet done: {run.step} steps in {run.seconds() / 60:.1f} min", flush=True)


def save_unet(args, lsm, scene_model, ema, text, run, scale, rgb_factors, rgb_bias):
    sd = {scene_model.UNET_PREFIX + k: v.detach().cpu().to(torch.float16).contiguous() for k, v in ema.state_dict().items()}
    sd.update({scene_model.CLIP_PREFIX + k: v.detach().cpu().float().contiguous() for k, v in text.state_dict().items()})
    meta = {"format": scene_model.FORMAT, "version": scene_model.LATENT_FORMAT_VERSION, "prediction": "v",
            "vae": lsm.VAE_NAME, "latent_scale": repr(scale), "latent_rgb_factors": json.dumps(rgb_factors),
            "latent_rgb_bias": json.dumps(rgb_bias), "unet_config": json.dumps(lsm.UNET_CONFIG),
            "steps": str(run.step), "minutes": f"{run.seconds() / 60:.1f}", "batch": str(args.unet_batch),
            "lr": str(args.unet_lr), "train_size": str(args.train_size), "caption_dropout": str(args.caption_dropout),
            "seed": str(args.seed), "command": "python -m lab.commands.train_latent_scene_model"}
    _write(os.path.join(args.models, lsm.WEIGHTS_NAME), sd, meta, run)


if __name__ == "__main__":
    main()
