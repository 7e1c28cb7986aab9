"""Outputs become JSON-ready data through pydantic_core: nothing JSON cannot write is left in."""

from __future__ import annotations

import dataclasses
import datetime
import json
from pathlib import Path

import pydantic

from rlm_tui.engine.outputs import jsonable


class Person(pydantic.BaseModel):
    name: str
    born: datetime.date


@dataclasses.dataclass
class Point:
    x: int
    y: int


def test_outputs_become_plain_json() -> None:
    value = {"people": [Person(name="Ada", born=datetime.date(1815, 12, 10))], "tags": {"a"}, "pair": (1, 2),
             "point": Point(1, 2), "where": Path("/workspace/out.csv"), "raw": b"\xff\x00", "n": 3}
    out = jsonable(value)
    assert out == {"people": [{"name": "Ada", "born": "1815-12-10"}], "tags": ["a"], "pair": [1, 2],
                   "point": {"x": 1, "y": 2}, "where": "/workspace/out.csv", "raw": "_wA=", "n": 3}
    assert json.loads(json.dumps(out)) == out


def test_unknown_objects_become_their_text() -> None:
    class Odd:
        def __str__(self) -> str:
            return "odd"

    assert jsonable([Odd()]) == ["odd"]
