"""sora-mini: the embedded model, its networks, tokenizer and folder format."""
