"""Wan2.1 text-to-video (Diffusers-format weights) as networks of the same engine.

Native torch + einops implementations whose parameter names are those of the real
checkpoints (transformer/, vae/, text_encoder/), so the downloaded files load strictly.
"""
