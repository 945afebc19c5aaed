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
    CAMERA_PHRASES,
    COLOUR_SYNONYMS,
    FILLERS,
    FRAMING_PHRASES,
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
# A camera move or a cut joins the scene's caption {c}: {cam} the move, {cami} its participle,
# {shot} what the cut goes to. The last of each list is held out of training.
CAMERA_TEMPLATES = ["{c}, the camera {cami}", "{c} as {cam}", "{c}; {cam}", "{c} while {cam}",
                    "{c} with the camera {cami}"]
CUT_TEMPLATES = ["{c}, then cut to {shot}", "{c}. cut to {shot}", "{c}; then the shot cuts to {shot}"]
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
    template = pool[_pick(len(pool), held, held_out, rng)]
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
    if scene.camera is not None:
        text = _with_camera(_tidy(text), scene, rng, held_out)
    return _tidy(text)


def _pick(count: int, held: set[int], held_out: bool | None, rng: random.Random) -> int:
    return rng.choice([i for i in range(count) if held_out is None or (i in held) == held_out])


def _tidy(text: str) -> str:
    text = re.sub(r"\s+", " ", text).replace(" ,", ",").replace(" ;", ";").replace(" :", ":").replace(" .", ".")
    return text.strip(" ,:")


def _with_camera(text: str, scene: Scene, rng: random.Random, held_out: bool | None) -> str:
    camera = scene.camera
    target = scene.things[camera.target]
    the = f"the {rng.choice(COLOUR_SYNONYMS[target.colour])} {rng.choice(SHAPE_SYNONYMS[target.shape])}"
    if camera.cut_at is not None:
        template = CUT_TEMPLATES[_pick(len(CUT_TEMPLATES), {len(CUT_TEMPLATES) - 1}, held_out, rng)]
        return template.format(c=text, shot=rng.choice(FRAMING_PHRASES[camera.cut_to]).format(t=the))
    present, participle = rng.choice(CAMERA_PHRASES[camera.move])
    template = CAMERA_TEMPLATES[_pick(len(CAMERA_TEMPLATES), {len(CAMERA_TEMPLATES) - 1}, held_out, rng)]
    return template.format(c=text, cam=present.format(t=the), cami=participle.format(t=the))


def vocabulary() -> list[str]:
    """Every word any caption can use, in a stable order."""
    texts = SINGLE + DOUBLE + BG_TEMPLATES + BW_PHRASES + FILLERS + ADVERBS + ["a an one the shot"]
    for table in (COLOUR_SYNONYMS, BACKGROUND_SYNONYMS, SHAPE_SYNONYMS, SIZE_SYNONYMS, LAYOUT_PHRASES):
        texts += [w for words in table.values() for w in words]
    texts += [p for phrases in MOTION_PHRASES.values() for pair in phrases for p in pair]
    # the camera's words come last, and a still camera's after them, so the ids of the words before them stay
    # those of trained models
    moves = [p for move, phrases in CAMERA_PHRASES.items() if move != "still" for pair in phrases for p in pair]
    texts += CAMERA_TEMPLATES + CUT_TEMPLATES + moves + [p for ps in FRAMING_PHRASES.values() for p in ps]
    texts += [p for pair in CAMERA_PHRASES["still"] for p in pair]
    words = []
    for text in texts:
        for w in re.findall(r"[a-z0-9]+", re.sub(r"\{[a-z0-9]+\}", " ", text.lower())):
            if w not in words:
                words.append(w)
    return words
