"""Differentiable, per-sample image transforms shared by the built-in augmentations.

Every function takes a batch ``x`` of shape ``(B, C, H, W)`` and per-sample parameters drawn by the caller from
its own random stream, and returns a batch of the same shape. Geometry is done by gathering pixels (integer
index maps), colour by affine maps of the channel vector, so the gradient with respect to ``x`` is exact and
nothing is resampled or blurred.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


# ------------------------------------------------------------------------------------------ geometry
def reflect_index(index: Tensor, size: int) -> Tensor:
    """Mirror out-of-range indices back into ``[0, size)`` without repeating the edge (``-1 -> 1``), like
    ``F.pad(mode="reflect")``: what StyleGAN2-ADA pads geometric transforms with, so no blank borders appear.
    One reflection: valid for indices in ``[−(size − 1), 2(size − 1)]``, i.e. shifts shorter than the side."""
    if size == 1:
        return torch.zeros_like(index)
    folded = index.abs()
    return torch.where(folded >= size, 2 * (size - 1) - folded, folded)


def gather_pixels(x: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
    """``out[b, :, i, j] = x[b, :, rows[b, i, j], cols[b, i, j]]`` (indices already in range)."""
    b, c, h, w = x.shape
    flat = (rows * w + cols).reshape(b, 1, h * w).expand(b, c, h * w)
    return x.reshape(b, c, h * w).gather(2, flat).reshape(b, c, h, w)


def translate_zero(x: Tensor, shift_rows: Tensor, shift_cols: Tensor) -> Tensor:
    """Shift each sample by whole pixels (``(B,)`` integer shifts, positive = down/right), zero padding."""
    b, _, h, w = x.shape
    rows = torch.arange(h, device=x.device).view(1, h) - shift_rows.view(b, 1)
    cols = torch.arange(w, device=x.device).view(1, w) - shift_cols.view(b, 1)
    inside = ((rows >= 0) & (rows < h)).view(b, 1, h, 1) & ((cols >= 0) & (cols < w)).view(b, 1, 1, w)
    rows_map = rows.clamp(0, h - 1).view(b, h, 1).expand(b, h, w)
    cols_map = cols.clamp(0, w - 1).view(b, 1, w).expand(b, h, w)
    return gather_pixels(x, rows_map, cols_map) * inside.to(x.dtype)


def cutout(x: Tensor, centre_rows: Tensor, centre_cols: Tensor, size_rows: int, size_cols: int) -> Tensor:
    """Zero a ``size_rows × size_cols`` rectangle around each sample's centre (clipped at the border)."""
    b, _, h, w = x.shape
    top = (centre_rows - size_rows // 2).view(b, 1)
    left = (centre_cols - size_cols // 2).view(b, 1)
    rows = torch.arange(h, device=x.device).view(1, h)
    cols = torch.arange(w, device=x.device).view(1, w)
    in_rows = ((rows >= top) & (rows < top + size_rows)).view(b, 1, h, 1)
    in_cols = ((cols >= left) & (cols < left + size_cols)).view(b, 1, 1, w)
    return x * (~(in_rows & in_cols)).to(x.dtype)


def blit(x: Tensor, flip: Tensor, quarter_turns: Tensor, shift_rows: Tensor, shift_cols: Tensor) -> Tensor:
    """ADA's pixel blitting in one gather: integer translation (reflect padding), then ``quarter_turns`` × 90°
    counter-clockwise rotation (as ``torch.rot90``), then a horizontal flip where ``flip`` is true.

    Each output pixel ``(i, j)`` is traced back to its source: un-flip (``j' = w−1−j``), un-rotate (rot90 by k reads
    ``in[j', n−1−i]``, ``in[n−1−i, n−1−j']``, ``in[n−1−j', i]`` for k = 1, 2, 3), un-translate. Flip and rotation
    are affine in ``(i, j)``, so they reduce to per-sample coefficients. Rotations other than 0/180° need square
    images.
    """
    b, _, h, w = x.shape
    device = x.device
    k = quarter_turns.long() % 4
    # un-rotate: source row = ri·i + rj·j' + rc, source col = ci·i + cj·j' + cc; per k = 0, 1, 2, 3:
    # (1, 0, 0 | 0, 1, 0), (0, 1, 0 | −1, 0, h−1), (−1, 0, h−1 | 0, −1, w−1), (0, −1, w−1 | 1, 0, 0)
    # (from comparisons on the device: a table made on the host would cost a host-device copy per call)
    k0, k1, k2, k3 = (k == 0).long(), (k == 1).long(), (k == 2).long(), (k == 3).long()
    ri, rj, rc = k0 - k2, k1 - k3, k2 * (h - 1) + k3 * (w - 1)
    ci, cj, cc = k3 - k1, k0 - k2, k1 * (h - 1) + k2 * (w - 1)
    # un-flip: j' = s·j + t
    f = flip.long()
    s, t = 1 - 2 * f, f * (w - 1)
    i = torch.arange(h, device=device).view(1, h, 1)
    j = torch.arange(w, device=device).view(1, 1, w)
    rows = ri.view(b, 1, 1) * i + (rj * s).view(b, 1, 1) * j + (rj * t + rc).view(b, 1, 1)
    cols = ci.view(b, 1, 1) * i + (cj * s).view(b, 1, 1) * j + (cj * t + cc).view(b, 1, 1)
    # un-translate, mirroring at the border
    rows = reflect_index(rows - shift_rows.view(b, 1, 1), h)
    cols = reflect_index(cols - shift_cols.view(b, 1, 1), w)
    return gather_pixels(x, rows, cols)


# --------------------------------------------------------------------------------------------- colour
def apply_colour_matrix(x: Tensor, matrix: Tensor) -> Tensor:
    """Apply per-sample affine colour maps ``(B, 4, 4)`` (homogeneous RGB) to RGB or grey images.

    A grey image uses the mean of the matrix's three colour rows (StyleGAN2-ADA's rule): brightness, contrast
    and luma flip act on it as on a grey RGB image; hue rotation and saturation leave grey unchanged.
    """
    b, c, h, w = x.shape
    matrix = matrix.to(x.dtype)
    if c == 3:
        flat = x.reshape(b, 3, h * w)
        return (matrix[:, :3, :3] @ flat + matrix[:, :3, 3:]).reshape(b, c, h, w)
    if c == 1:
        row = matrix[:, :3, :].mean(dim=1)  # (B, 4)
        return x * row[:, :3].sum(dim=1).view(b, 1, 1, 1) + row[:, 3].view(b, 1, 1, 1)
    raise ValueError(f"colour transforms need 1 or 3 channels, got {c}")


def eye4(batch: int, device: torch.device) -> Tensor:
    return torch.eye(4, device=device).expand(batch, 4, 4).clone()


def translate3d(offset: Tensor) -> Tensor:
    """``(B,)`` offsets added to every channel."""
    m = eye4(offset.shape[0], offset.device)
    m[:, :3, 3] = offset.view(-1, 1)
    return m


def scale3d(scale: Tensor) -> Tensor:
    m = eye4(scale.shape[0], scale.device)
    m[:, 0, 0] = m[:, 1, 1] = m[:, 2, 2] = scale
    return m


def luma_axis(device: torch.device) -> Tensor:
    """The grey axis ``(1, 1, 1, 0) / √3`` in homogeneous RGB."""
    return torch.cat([torch.full((3,), 1 / math.sqrt(3), device=device), torch.zeros(1, device=device)])


def luma_flip(flip: Tensor) -> Tensor:
    """Reflect the luma component where ``flip`` is 1: ``I − 2 v vᵀ``."""
    v = luma_axis(flip.device)
    outer = torch.outer(v, v)
    return eye4(flip.shape[0], flip.device) - 2 * outer * flip.view(-1, 1, 1)


def hue_rotation(theta: Tensor) -> Tensor:
    """Rotate colours about the grey axis by ``theta`` (Rodrigues' formula)."""
    v = luma_axis(theta.device)[:3]
    # the cross-product matrix [v]× of v = (1, 1, 1) / √3
    eye = torch.eye(3, device=theta.device)
    cross = (eye.roll(-1, dims=1) - eye.roll(1, dims=1)) / math.sqrt(3)  # [[0, −1, 1], [1, 0, −1], [−1, 1, 0]]/√3
    cos, sin = theta.cos().view(-1, 1, 1), theta.sin().view(-1, 1, 1)
    rot = cos * eye + sin * cross + (1 - cos) * torch.outer(v, v)
    m = eye4(theta.shape[0], theta.device)
    m[:, :3, :3] = rot
    return m


def saturation(scale: Tensor) -> Tensor:
    """Scale the chroma (the part orthogonal to the grey axis): ``v vᵀ + (I − v vᵀ) s``."""
    v = luma_axis(scale.device)
    outer = torch.outer(v, v)
    m = outer + (torch.eye(4, device=scale.device) - outer) * scale.view(-1, 1, 1)
    m[:, 3, 3] = 1.0  # the homogeneous coordinate stays 1
    return m
