"""The world's vocabulary as data, as docs/world.md describes it."""

from __future__ import annotations

# word -> sRGB; the first word of each tuple is the canonical name
OBJECT_COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40), "orange": (245, 140, 30), "yellow": (240, 220, 40), "green": (50, 180, 70),
    "blue": (40, 90, 220), "purple": (140, 60, 200), "pink": (240, 120, 180), "white": (245, 245, 245),
}
BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "white": (245, 245, 245), "black": (12, 12, 12), "gray": (128, 128, 128), "sky": (140, 190, 235),
    "night": (15, 20, 60), "sand": (220, 200, 150), "grass": (40, 100, 40),
}
COLOUR_SYNONYMS = {"red": ["red", "crimson", "scarlet"], "orange": ["orange"], "yellow": ["yellow", "golden"],
                   "green": ["green", "lime"], "blue": ["blue", "azure"], "purple": ["purple", "violet"],
                   "pink": ["pink"], "white": ["white"]}
BACKGROUND_SYNONYMS = {"white": ["white"], "black": ["black"], "gray": ["gray", "grey"],
                       "sky": ["sky", "light blue"], "night": ["night", "dark blue", "navy"],
                       "sand": ["sand", "beige"], "grass": ["grass", "dark green"]}
SHAPES = ("circle", "square", "triangle")
SHAPE_SYNONYMS = {"circle": ["circle", "ball", "sphere", "dot", "disc"],
                  "square": ["square", "box", "block", "cube"], "triangle": ["triangle", "pyramid"]}
SIZES = {"small": 0.10, "medium": 0.18, "large": 0.30}
SIZE_SYNONYMS = {"small": ["small", "tiny", "little"], "medium": ["medium", "medium-sized"],
                 "large": ["large", "big", "huge"]}
MOTIONS = ("left", "right", "up", "down", "bounces", "falls", "rises", "grows", "shrinks", "spins",
           "circles", "still")
# Verb phrases per motion: (present tense "moves left", participle "moving left")
MOTION_PHRASES: dict[str, list[tuple[str, str]]] = {
    "left": [("moves left", "moving left"), ("slides left", "sliding left"), ("drifts to the left", "drifting to the left"),
             ("travels leftward", "travelling leftward"), ("glides left", "gliding left")],
    "right": [("moves right", "moving right"), ("slides right", "sliding right"),
              ("drifts to the right", "drifting to the right"), ("travels rightward", "travelling rightward"),
              ("glides right", "gliding right")],
    "up": [("moves up", "moving up"), ("slides up", "sliding up"), ("drifts upward", "drifting upward"),
           ("glides up", "gliding up")],
    "down": [("moves down", "moving down"), ("slides down", "sliding down"), ("drifts downward", "drifting downward"),
             ("glides down", "gliding down")],
    "bounces": [("bounces", "bouncing"), ("hops", "hopping"), ("jumps", "jumping")],
    "falls": [("falls", "falling"), ("drops", "dropping")],
    "rises": [("rises", "rising"), ("floats up", "floating up"), ("ascends", "ascending")],
    "grows": [("grows", "growing"), ("expands", "expanding"), ("gets bigger", "getting bigger")],
    "shrinks": [("shrinks", "shrinking"), ("gets smaller", "getting smaller")],
    "spins": [("spins", "spinning"), ("rotates", "rotating"), ("turns", "turning")],
    "circles": [("circles", "circling"), ("orbits", "orbiting"), ("goes around", "going around")],
    "still": [("stays still", "staying still"), ("rests", "resting"), ("sits", "sitting"), ("is still", "sitting still")],
}
LAYOUTS = ("left", "right", "top", "bottom", "center")
LAYOUT_PHRASES = {"left": ["on the left"], "right": ["on the right"], "top": ["at the top"],
                  "bottom": ["at the bottom"], "center": ["in the center", "in the centre", "in the middle"]}
BW_PHRASES = ["in black and white", "monochrome", "in grayscale", "in greyscale", "black and white"]
FILLERS = ["a video of", "we see", "a clip of", "footage of", "an animation of", "watch as", "here"]
ADVERBS = ["slowly", "steadily", "gently", "smoothly"]
# The camera (camera.py): (present "the camera pans left", participle "panning left"); {t} is
# the followed object, "the <colour> <shape>".
CAMERA_PHRASES: dict[str, list[tuple[str, str]]] = {
    "pan left": [("the camera pans left", "panning left"), ("the camera pans to the left", "panning to the left")],
    "pan right": [("the camera pans right", "panning right"), ("the camera pans to the right", "panning to the right")],
    "zoom in": [("the camera zooms in", "zooming in"), ("the camera pushes in", "pushing in")],
    "zoom out": [("the camera zooms out", "zooming out"), ("the camera pulls back", "pulling back")],
    "follow": [("the camera follows {t}", "following {t}"), ("the camera tracks {t}", "tracking {t}")],
    "still": [("the camera holds still", "holding still"), ("the camera is locked off", "locked off")],
}
# What a cut goes to: {t} is the object a close-up frames.
FRAMING_PHRASES = {"close": ["a close-up of {t}", "a close shot of {t}"], "wide": ["a wide shot", "a wide view"]}
SPEED = 0.35  # of S per second
FPS = 24


def luma(rgb: tuple[int, int, int]) -> float:
    r, g, b = rgb
    return 0.299 * r + 0.587 * g + 0.114 * b
