"""The sora-mini world (docs/world.md): its words, scenes, renderer, captions and checker."""
