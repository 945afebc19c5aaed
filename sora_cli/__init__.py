"""sora_cli: local text-to-video with a diffusion transformer."""

__version__ = "0.1.0"
