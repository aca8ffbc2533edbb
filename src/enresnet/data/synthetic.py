"""A seeded synthetic image-classification task for tests and benchmarks.

Each class has a smooth random template (a coarse random grid upsampled
bilinearly); an image is its class template plus i.i.d. Gaussian pixel noise,
quantised to uint8. A small ResNet learns it to high accuracy in a few hundred
steps, yet it is not linearly trivial at high noise.
"""

from __future__ import annotations

import torch

from .dataset import ImageDataset, generator_seed


def synthetic_dataset(
    num_samples: int = 1024,
    num_classes: int = 10,
    channels: int = 3,
    size: int = 32,
    noise: float = 0.15,
    seed: int = 0,
    train: bool = True,
) -> ImageDataset:
    """``num_samples`` images of ``num_classes`` templates; train/test share templates."""
    gen = torch.Generator().manual_seed(generator_seed(seed))
    coarse = torch.rand(num_classes, channels, 4, 4, generator=gen)
    templates = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    templates = 0.2 + 0.6 * templates
    sample_gen = torch.Generator().manual_seed(generator_seed(seed * 2 + (1 if train else 2) + 1_000_000))
    labels = torch.randint(0, num_classes, (num_samples,), generator=sample_gen)
    pixels = templates[labels] + noise * torch.randn(num_samples, channels, size, size, generator=sample_gen)
    images = (pixels.clamp(0, 1) * 255).round().to(torch.uint8)
    names = [f"class{i}" for i in range(num_classes)]
    return ImageDataset(images, labels, num_classes, name="synthetic", class_names=names)
