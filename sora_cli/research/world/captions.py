"""The caption writer: many templates, word orders, synonyms and fillers per scene.

Some templates and some colour-shape pairs are held out of training and used only in
evaluation, to measure whether people's own phrasings and unseen combinations work.
"""

from __future__ import annotations

import random
import re

from sora_cli.research.world.scene import Scene, Thing
from sora_cli.research.world.vocab import (
    ADVERBS,
    BACKGROUND_SYNONYMS,
    BW_PHRASES,
    COLOUR_SYNONYMS,
    FILLERS,
    LAYOUT_PHRASES,
    MOTION_PHRASES,
    SHAPE_SYNONYMS,
    SIZE_SYNONYMS,
)

# Single-object templates. Slots: {f} filler, {a} the object, {m} motion, {mi} motion (-ing),
# {l} layout, {b} background phrase, {s} style.
SINGLE = [
    "{f} {a} {l} {m} {b} {s}",
    "{f} {a} {m} {l} {b} {s}",
    "{a} {m} {l}, {b} {s}",
    "{s} {a} {mi} {l} {b}",
    "{b}, {a} {l} {m} {s}",
    "{f} {a} {mi} {l} {b} {s}",
    "{a} {l} {b} {m} {s}",
    "{b} with {a} that {m} {l} {s}",
    # held out of training:
    "there is {a} {l} that {m} {b} {s}",
    "{s} shot {b}: {a} {l} {mi}",
]
# Two-object templates: {a1} {l1} {m1} ... {a2} {l2} {m2}
DOUBLE = [
    "{f} {a1} {l1} {m1} while {a2} {l2} {m2} {b} {s}",
    "{f} {a1} {l1} {m1} and {a2} {l2} {m2} {b} {s}",
    "{b}, {a1} {l1} {m1} as {a2} {l2} {m2} {s}",
    "{s} {a1} {l1} {mi1} and {a2} {l2} {mi2} {b}",
    # held out of training:
    "{a1} {l1} {m1}; meanwhile {a2} {l2} {m2} {b} {s}",
]
HELD_OUT_SINGLE, HELD_OUT_DOUBLE = {8, 9}, {4}
HELD_OUT_PAIRS = {("purple", "triangle"), ("orange", "square"), ("pink", "circle")}
BG_TEMPLATES = ["on a {w} background", "against a {w} background", "over a {w} backdrop", "with a {w} background",
                "on {w}"]


def is_held_out(scene: Scene) -> bool:
    return any((t.colour, t.shape) in HELD_OUT_PAIRS for t in scene.things)


def _object(thing: Thing, say_size: bool, rng: random.Random) -> str:
    words = []
    if say_size:
        words.append(rng.choice(SIZE_SYNONYMS[thing.size]))
    words.append(rng.choice(COLOUR_SYNONYMS[thing.colour]))
    words.append(rng.choice(SHAPE_SYNONYMS[thing.shape]))
    article = rng.choice(["a", "a", "one", "the"])
    if article == "a" and words[0][0] in "aeiou":
        article = "an"
    return f"{article} {' '.join(words)}"


def _motion(thing: Thing, rng: random.Random) -> tuple[str, str]:
    present, participle = rng.choice(MOTION_PHRASES[thing.motion])
    if rng.random() < 0.15:
        adverb = rng.choice(ADVERBS)
        present, participle = f"{adverb} {present}", f"{adverb} {participle}"
    return present, participle


def caption(scene: Scene, rng: random.Random, held_out: bool | None = False) -> str:
    """A caption of the scene. held_out: False = training templates, True = held-out ones, None = any."""
    double = len(scene.things) == 2
    pool = DOUBLE if double else SINGLE
    held = HELD_OUT_DOUBLE if double else HELD_OUT_SINGLE
    choices = [i for i in range(len(pool)) if held_out is None or (i in held) == held_out]
    template = pool[rng.choice(choices)]
    bg_word = rng.choice(BACKGROUND_SYNONYMS[scene.background])
    slots = {
        "f": rng.choice(FILLERS) if rng.random() < 0.4 else "",
        "b": rng.choice(BG_TEMPLATES).format(w=bg_word),
        "s": rng.choice(BW_PHRASES) if scene.bw else "",
    }
    for i, thing in enumerate(scene.things, 1):
        key = str(i) if double else ""
        slots["a" + key] = _object(thing, scene.size_said[i - 1], rng)
        slots["m" + key], slots["mi" + key] = _motion(thing, rng)
        slots["l" + key] = rng.choice(LAYOUT_PHRASES[thing.layout]) if thing.layout else ""
    text = template.format(**slots)
    text = re.sub(r"\s+", " ", text).replace(" ,", ",").replace(" ;", ";").replace(" :", ":").strip(" ,:")
    return text


def vocabulary() -> list[str]:
    """Every word any caption can use, in a stable order."""
    texts = SINGLE + DOUBLE + BG_TEMPLATES + BW_PHRASES + FILLERS + ADVERBS + ["a an one the shot"]
    for table in (COLOUR_SYNONYMS, BACKGROUND_SYNONYMS, SHAPE_SYNONYMS, SIZE_SYNONYMS, LAYOUT_PHRASES):
        texts += [w for words in table.values() for w in words]
    texts += [p for phrases in MOTION_PHRASES.values() for pair in phrases for p in pair]
    words = []
    for text in texts:
        for w in re.findall(r"[a-z0-9]+", re.sub(r"\{[a-z0-9]+\}", " ", text.lower())):
            if w not in words:
                words.append(w)
    return words
