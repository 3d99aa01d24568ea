"""Train the bundled digits classifier (assets/digits/classifier.safetensors) and record its accuracy.

    python assets/make_digits_classifier.py          (about 20 s on one core)

The classifier (core.digits.DigitClassifier) learns the ten digits from the 1,400 training images
only; its accuracy on the 397 held-out images goes to assets/digits/classifier.json (and a test checks
the shipped weights reach 95%). Its features are what the digits' Fréchet distance compares, and its
confidence says whether a sample is a recognisable digit, so it must not be confident on what is not
one: besides the digits (with one-pixel shifts and pixel noise), it learns to answer "all ten equally"
(outlier exposure, Hendrycks et al. 2019) on Gaussian noise, on blends of two digits of different
classes and on pixel-shuffled digits: what a poor generator draws.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from safetensors.torch import save_file

from meanflow.core import digits

SEED = 0
STEPS = 6000
BATCH = 256
LR = 3e-3
OUTLIER_WEIGHT = 0.05  # weight of the outlier-exposure term (cross-entropy to the uniform distribution)


def shifted(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Each image (B, 64) model units moved by -1, 0 or +1 pixel each way (the border filled with paper)."""
    images = x.view(-1, 8, 8)
    paper = -digits.CENTRE / digits.SCALE
    out = torch.full_like(images, paper)
    dy, dx = torch.randint(-1, 2, (2,), generator=g).tolist()
    ys, yd = slice(max(0, -dy), 8 - max(0, dy)), slice(max(0, dy), 8 - max(0, -dy))
    xs, xd = slice(max(0, -dx), 8 - max(0, dx)), slice(max(0, dx), 8 - max(0, -dx))
    out[:, yd, xd] = images[:, ys, xs]
    return out.view(-1, 64)


def outliers(x: torch.Tensor, y: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Non-digits (B, 64) model units: a third Gaussian noise, a third two-digit blends, a third shuffled pixels."""
    n = len(x) // 3
    noise = torch.randn(n, 64, generator=g) * torch.rand(n, 1, generator=g) * 2
    other = torch.randperm(len(x), generator=g)[:n]
    keep = y[:n] != y[other]
    alpha = 0.4 + 0.2 * torch.rand(n, 1, generator=g)
    blends = (alpha * x[:n] + (1 - alpha) * x[other])[keep]
    shuffled = x[n : 2 * n][:, torch.randperm(64, generator=g)]
    return torch.cat([noise, blends, shuffled])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=STEPS)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    started = time.perf_counter()
    g = torch.Generator().manual_seed(SEED)
    torch.manual_seed(SEED)
    train_x, train_y = digits.train_split()
    held_x, held_y = digits.held_out_split()
    x_all = torch.as_tensor((train_x - digits.CENTRE) / digits.SCALE, dtype=torch.float32)
    y_all = torch.tensor(train_y)
    net = digits.DigitClassifier()
    optimiser = torch.optim.Adam(net.parameters(), lr=LR)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, args.steps)
    for _ in range(args.steps):
        idx = torch.randint(0, len(x_all), (BATCH,), generator=g)
        x, y = x_all[idx], y_all[idx]
        x = shifted(x, g) + torch.randn(x.shape, generator=g) * 0.15 * torch.rand(len(x), 1, generator=g)
        loss = torch.nn.functional.cross_entropy(net(x), y)
        away = torch.log_softmax(net(outliers(x, y, g)), dim=1)
        loss = loss - OUTLIER_WEIGHT * away.mean()  # cross-entropy to uniform, up to a constant
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
    net.eval()
    out = digits.assets_dir() / "digits"
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(out / digits.CLASSIFIER_FILE))
    digits.classifier.cache_clear()
    probs, _ = digits.classify(held_x)
    accuracy = float((probs.argmax(1) == held_y).mean())
    confident = float((probs.max(1) >= digits.CONFIDENT).mean())
    g = torch.Generator().manual_seed(1)
    noise = (torch.randn(1000, 64, generator=g) * digits.SCALE + digits.CENTRE).numpy()
    noise_confident = float((digits.classify(noise)[0].max(1) >= digits.CONFIDENT).mean())
    record = {
        "held_out_accuracy": round(accuracy, 4),
        "held_out_confident": round(confident, 4),
        "noise_confident": round(noise_confident, 4),
        "held_out_images": len(held_y),
        "train_images": len(train_y),
        "steps": args.steps,
        "seconds": round(time.perf_counter() - started, 1),
        "command": "python assets/make_digits_classifier.py",
    }
    (out / "classifier.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
