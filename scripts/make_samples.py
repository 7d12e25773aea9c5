"""Render the bundled sample images (our own, no dataset pixels). Re-run to regenerate:
.venv/bin/python scripts/make_samples.py
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

OUT = Path(__file__).resolve().parents[1] / "samples"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
FONT_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"

RECEIPT = [
    ("GREEN LEAF GROCERY", True),
    ("12 Harbour Road, Springfield", False),
    ("Tel: 555-0142   VAT: GB123456", False),
    ("Date: 2026-11-23   14:05", False),
    ("", False),
    ("Whole milk 2L          2.49", False),
    ("Sourdough bread        3.80", False),
    ("Free range eggs x12    4.15", False),
    ("Bananas 1.2kg          1.32", False),
    ("", False),
    ("TOTAL                 11.76", True),
    ("Card payment          11.76", False),
    ("Thank you for shopping!", False),
]


def receipt() -> Image.Image:
    img = Image.new("RGB", (720, 900), (250, 248, 240))
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, 30)
    bold = ImageFont.truetype(FONT_BOLD, 34)
    y = 40
    for text, is_bold in RECEIPT:
        if text:
            draw.text((50, y), text, fill=(20, 20, 30), font=bold if is_bold else font)
        y += 62
    return img


def main() -> None:
    OUT.mkdir(exist_ok=True)
    receipt().save(OUT / "receipt.png", optimize=True)
    (OUT / "receipt.txt").write_text("\n".join(t for t, _ in RECEIPT if t) + "\n")


if __name__ == "__main__":
    main()
