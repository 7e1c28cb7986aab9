"""Aggregation over thousands of records, in the spirit of OOLONG.

Each record is one line: id, date, user, city, category, amount, and a short free-text note
whose sentiment (positive / negative / neutral) is known to the generator but not written down,
so some questions need a judgement per record (a sub-LM, or careful reading), then counting.

Variants: `count` (exact), `topk` (the 3 users with most records of a kind; F1 over names),
`pairs` (every pair of users who both meet a condition; F1 over pairs).
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from dataclasses import dataclass

from rlm_tui.eval import scoring
from rlm_tui.eval.tasks import CHARS_PER_TOKEN, Instance, Task, grid, token_sizes

CITIES = ("Lisbon", "Oslo", "Quito", "Nairobi", "Osaka", "Lyon", "Perth", "Tartu", "Cusco", "Hanoi")
CATEGORIES = ("books", "garden", "kitchen", "toys", "music", "sports", "tools", "travel")
NOTES = {
    "positive": ("Great service, would order again.", "Arrived early and works perfectly.",
                 "Friendly staff and a fair price.", "Exactly what I needed, thank you!",
                 "Lovely quality, my kids adore it.", "Fast shipping and careful packing.",
                 "Better than the photos suggested.", "Five stars, no complaints at all."),
    "negative": ("The delivery was late and the box was damaged.", "Rude support and no refund.",
                 "It broke after two days.", "Overpriced and disappointing.",
                 "Wrong size, and the return was a nightmare.", "Missing parts; nobody answered my emails.",
                 "Smelled of smoke when it arrived.", "Would not recommend to anyone."),
    "neutral": ("Ordered as usual.", "Picked it up on Tuesday.", "Paid by card.", "Gift for a colleague.",
                "Second order this month.", "Delivered to the side door.", "Bought during the sale.",
                "Same as last time."),
}
SYLLABLES = ("ka", "lo", "mi", "ven", "ta", "dor", "el", "qui", "zan", "ro", "bel", "fen", "mar", "os")
USER_PATTERN = r"[a-z]+_\d+"


@dataclass(frozen=True)
class Record:
    id: str
    date: str
    user: str
    city: str
    category: str
    amount: float
    note: str
    sentiment: str

    def line(self) -> str:
        return (f"{self.id} | {self.date} | user={self.user} | city={self.city} | category={self.category} | "
                f"amount={self.amount:.2f} | note: {self.note}")


def generate(rng: random.Random, chars: int) -> list[Record]:
    users_n = max(8, chars // 2500)
    users: list[str] = []
    while len(users) < users_n:
        name = "".join(rng.choice(SYLLABLES) for _ in range(2)) + f"_{rng.randrange(1, 100)}"
        if name not in users:
            users.append(name)
    cumulative = list(itertools.accumulate(1 / (rank + 1) ** 0.8 for rank in range(users_n)))
    records: list[Record] = []
    total = 0
    i = 0
    while total < chars:
        i += 1
        sentiment = rng.choices(("positive", "negative", "neutral"), (0.4, 0.25, 0.35))[0]
        record = Record(
            id=f"r{i:06d}", date=f"2024-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
            user=rng.choices(users, cum_weights=cumulative)[0], city=rng.choice(CITIES), category=rng.choice(CATEGORIES),
            amount=rng.randrange(100, 50_000) / 100, note=rng.choice(NOTES[sentiment]), sentiment=sentiment,
        )
        records.append(record)
        total += len(record.line()) + 1
    return records


class AggregateFamily:
    name = "aggregate"
    variants = ("count", "topk", "pairs")
    default_sizes = ("8k", "32k", "128k")

    def tasks(self, sizes: list[str] | None, n: int, seed: int) -> list[Task]:
        return grid(self.name, self.variants, token_sizes(sizes, self.default_sizes), n, seed)

    def build(self, task: Task) -> Instance:
        rng = task.rng()
        records = generate(rng, task.tokens * CHARS_PER_TOKEN)
        question, expected, scorer, scoring_name = getattr(self, f"_{task.variant}")(rng, records)
        text = "\n".join(r.line() for r in records) + "\n"
        return Instance(
            task=task, question=question, expected=expected, scoring=scoring_name,
            rlm_preamble=(f"The project holds `records.txt`: {len(records):,} records, one per line "
                          "(`id | date | user=... | city=... | category=... | amount=... | note: ...`). "),
            direct_context=text, files={"records.txt": text}, score=scorer,
        )

    @staticmethod
    def _count(rng: random.Random, records: list[Record]):
        for _ in range(50):
            category = rng.choice(CATEGORIES)
            if rng.random() < 0.5:
                city = rng.choice(CITIES)
                n = sum(r.category == category and r.city == city for r in records)
                question = f"How many records have category {category} and city {city}? Answer with the number only."
            else:
                sentiment = rng.choice(("positive", "negative"))
                n = sum(r.category == category and r.sentiment == sentiment for r in records)
                feeling = "a positive experience (praise)" if sentiment == "positive" else "a negative experience (a complaint)"
                question = (f"How many records in category {category} have a note expressing {feeling}? "
                            "Answer with the number only.")
            if n > 0:
                return question, n, scoring.exact_int, "exact"
        return "How many records are there? Answer with the number only.", len(records), scoring.exact_int, "exact"

    @staticmethod
    def _topk(rng: random.Random, records: list[Record]):
        categories = list(CATEGORIES)
        rng.shuffle(categories)
        for category in [*categories, None]:
            counts = Counter(r.user for r in records if category is None or r.category == category)
            ranked = counts.most_common()
            if len(ranked) >= 4 and ranked[2][1] > ranked[3][1] or len(ranked) == 3:
                top = [u for u, _ in ranked[:3]]
                kind = f"records in category {category}" if category else "records"
                question = (f"Which 3 users have the most {kind}? "
                            "Answer with the three user names, comma-separated.")
                return question, top, scoring.names_f1, "f1"
        top = [u for u, _ in Counter(r.user for r in records).most_common(3)]
        return "Name 3 of the users with the most records, comma-separated.", top, scoring.names_f1, "f1"

    @staticmethod
    def _pairs(rng: random.Random, records: list[Record]):
        """A condition met by 3 to 6 users, from the coarsest kind of condition that has one."""
        best: tuple[str, list[str]] | None = None
        for fields in PAIR_LEVELS:
            groups: dict[tuple[str, ...], set[str]] = {}
            for r in records:
                if "sentiment" in fields and r.sentiment == "neutral":
                    continue
                groups.setdefault(tuple(_field(r, f) for f in fields), set()).add(r.user)
            keys = sorted(groups)
            rng.shuffle(keys)
            for key in keys:
                users = sorted(groups[key])
                if 3 <= len(users) <= 6 or (len(users) >= 2 and (best is None or abs(len(users) - 4) < abs(len(best[1]) - 4))):
                    best = (_describe(fields, key), users)
                    if 3 <= len(users) <= 6:
                        break
            if best is not None and 3 <= len(best[1]) <= 6:
                break
        text, users = best or ("city Lisbon", [])
        pairs = [list(p) for p in itertools.combinations(users, 2)]
        question = (f"List every pair of distinct users who both have at least one record with {text}. "
                    "Write each pair as `user_a + user_b`, pairs separated by semicolons "
                    "(write NONE if there are none).")
        return question, pairs, _score_pairs, "f1"


PAIR_LEVELS = (("city", "sentiment"), ("city", "category"), ("city", "category", "sentiment"),
               ("city", "category", "month"), ("city", "category", "month", "sentiment"))


def _field(record: Record, name: str) -> str:
    return record.date[5:7] if name == "month" else getattr(record, name)


def _describe(fields: tuple[str, ...], key: tuple[str, ...]) -> str:
    parts = []
    for name, value in zip(fields, key, strict=True):
        if name == "sentiment":
            parts.append(f"a note expressing a {value} experience")
        elif name == "month":
            parts.append(f"a date in month {value}")
        else:
            parts.append(f"{name} {value}")
    return ", ".join(parts[:-1]) + f" and {parts[-1]}"


def _score_pairs(answer: str, expected: list[list[str]]) -> float:
    return scoring.pairs_f1(answer, expected, USER_PATTERN)
