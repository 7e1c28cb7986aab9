"""Needle in a haystack: access codes hidden in a long generated text, with distractors.

`single`: one code is asked for (exact). `multi`: four codes are asked for at once (F1).
The haystack is plausible filler prose; other vaults' codes are planted as distractors, so the
answer has to come from the right sentence, not from any 7-digit number.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from rlm_tui.eval import scoring
from rlm_tui.eval.tasks import CHARS_PER_TOKEN, Instance, Task, grid, token_sizes

SUBJECTS = ("the engineer", "a courier", "the archivist", "our neighbour", "the committee", "a visiting scholar",
            "the night guard", "the harbour master", "a junior clerk", "the botanist", "the old captain",
            "a quiet student", "the baker", "the surveyor", "the mayor", "a tired pilot")
VERBS = ("reviewed", "carried", "described", "repaired", "ignored", "catalogued", "painted", "questioned",
         "measured", "borrowed", "praised", "photographed", "misplaced", "translated", "sketched", "weighed")
OBJECTS = ("the ledger", "a brass lantern", "the harbour map", "an unsigned letter", "the spare keys",
           "a box of seeds", "the weather log", "an old compass", "the train timetable", "a folded banner",
           "the river charts", "a wooden crate", "the tax records", "a silver kettle", "the signal flags")
PLACES = ("near the market", "before the storm", "after supper", "in the west wing", "by the canal",
          "during the festival", "at the lighthouse", "behind the station", "on the upper floor",
          "under the bridge", "at first light", "beside the orchard", "in the reading room")
CODAS = ("Nobody seemed surprised.", "It took most of the afternoon.", "The notes were filed the next day.",
         "Someone made tea while they waited.", "The rain did not stop.", "It was not the first time.",
         "Everyone agreed it could wait.", "The report was short.")
SYLLABLES = ("ka", "lo", "mir", "ven", "tas", "dor", "el", "qui", "zan", "ro", "bel", "fen", "mar", "os",
             "tri", "val", "nor", "sel", "ith", "gar", "ul", "pra", "hes", "cor")


def vault_name(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(3)).capitalize()


def filler(rng: random.Random, chars: int) -> list[str]:
    """Sentences of about `chars` characters in all."""
    sentences: list[str] = []
    total = 0
    choice = rng.choice
    while total < chars:
        s = f"{choice(SUBJECTS).capitalize()} {choice(VERBS)} {choice(OBJECTS)} {choice(PLACES)}."
        if rng.random() < 0.3:
            s += " " + choice(CODAS)
        sentences.append(s)
        total += len(s) + 1
    return sentences


def needle(name: str, code: str) -> str:
    return f"The access code for the {name} vault is {code}."


class NeedleFamily:
    name = "needle"
    variants = ("single", "multi")
    default_sizes = ("8k", "64k", "256k", "1m")

    def tasks(self, sizes: list[str] | None, n: int, seed: int) -> list[Task]:
        return grid(self.name, self.variants, token_sizes(sizes, self.default_sizes), n, seed)

    def build(self, task: Task) -> Instance:
        rng = task.rng()
        asked = 1 if task.variant == "single" else 4
        names: list[str] = []
        while len(names) < asked + 6:  # 6 distractor vaults
            name = vault_name(rng)
            if name not in names:
                names.append(name)
        codes: list[str] = []
        while len(codes) < len(names):
            code = str(rng.randrange(1_000_000, 10_000_000))
            if code not in codes:
                codes.append(code)
        sentences = filler(rng, task.tokens * CHARS_PER_TOKEN)
        for name, code in zip(names, codes, strict=True):
            sentences.insert(rng.randrange(len(sentences) + 1), needle(name, code))
        text = _paragraphs(rng, sentences)
        target_names, target_codes = names[:asked], codes[:asked]
        if asked == 1:
            question = (f"What is the access code for the {target_names[0]} vault? "
                        "Answer with the 7-digit code only.")
            expected: object = target_codes[0]
            scorer: Callable[[Any, Any], float]
            scorer, scoring_name = scoring.exact_code, "exact"
        else:
            listed = ", ".join(target_names[:-1]) + f" and {target_names[-1]}"
            question = (f"What are the access codes for the {listed} vaults? "
                        "Answer with the four 7-digit codes in that order, comma-separated.")
            expected = target_codes
            scorer, scoring_name = scoring.codes_f1, "f1"
        return Instance(
            task=task, question=question, expected=expected, scoring=scoring_name,
            rlm_preamble=(f"The project holds one long document, `context.txt` ({len(text):,} characters, "
                          f"about {len(text) // CHARS_PER_TOKEN:,} tokens). "),
            direct_context=text, files={"context.txt": text}, score=scorer,
        )


def _paragraphs(rng: random.Random, sentences: list[str]) -> str:
    out, i = [], 0
    while i < len(sentences):
        n = rng.randrange(3, 9)
        out.append(" ".join(sentences[i:i + n]))
        i += n
    return "\n\n".join(out) + "\n"
