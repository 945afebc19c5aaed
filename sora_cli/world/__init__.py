"""The sora-mini world (../shared/world-spec.md): its words, scenes, renderer, captions and checker."""
