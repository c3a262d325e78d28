"""Draw examples/sample.png: a small synthetic test card (gradients, edges, text, texture).

The repository ships no photos (benchmark and training images have their own licences);
this card is drawn from code so anyone can regenerate it: ``python examples/make_sample.py``."""
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

W, H = 240, 160


def draw() -> Image.Image:
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:H, 0:W] / np.array([H, W])[:, None, None]
    sky = np.stack([90 + 120 * yy, 140 + 80 * yy, 220 - 60 * xx], -1)
    img = Image.fromarray(sky.clip(0, 255).astype(np.uint8))
    d = ImageDraw.Draw(img)
    d.polygon([(0, 120), (60, 70), (110, 110), (170, 55), (240, 115), (240, 160), (0, 160)], fill=(60, 110, 70))
    d.ellipse((180, 14, 216, 50), fill=(250, 220, 120))
    for i in range(12):  # a fence: thin high-contrast lines
        d.line((12 + 9 * i, 150, 12 + 9 * i, 128), fill=(245, 245, 240), width=2)
    d.line((8, 134, 118, 134), fill=(245, 245, 240), width=2)
    d.rectangle((128, 96, 176, 140), fill=(170, 60, 50), outline=(30, 20, 20))
    d.text((132, 112), "MOSS", fill=(255, 255, 255))
    img = img.filter(ImageFilter.GaussianBlur(0.6))
    grass = rng.normal(0, 9, (H, W, 1)) * (np.arange(H)[:, None, None] > 110)
    return Image.fromarray((np.asarray(img) + grass).clip(0, 255).astype(np.uint8))


if __name__ == "__main__":
    out = Path(__file__).with_name("sample.png")
    draw().save(out)
    print(out)
