"""Training sora-mini on the rendered world: data on the fly, the VAE, then the DiT."""
