"""Schemas reach the model and live in the sandbox: the root prompt spells out every output
field's type (pydantic models expanded, Literal choices, item types) and desc, and every input's
desc; pydantic output models exist in the guest as classes of the same name and fields, so
`SUBMIT(result=Result(...))` works; a rejection names the path of the wrong part.
Real litellm HTTP to the scripted server, real WASM sandbox."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import dspy
import pydantic
import pytest

from rlm_tui.engine.events import SubmitRejected
from rlm_tui.engine.prompts import system_prompt, task_prompt
from tests.engine.test_engine import make_rlm
from tests.support.projects import write_project


def code(body: str) -> str:
    return f"Let me work.\n```python\n{body}\n```"


class Item(pydantic.BaseModel):
    name: str
    price: float = pydantic.Field(description="unit price in euros")
    tags: list[str] = []


class Result(pydantic.BaseModel):
    """An invoice summary."""

    total: float
    items: list[Item]
    status: Literal["paid", "open"] | None = None


class Invoice(dspy.Signature):
    """Summarise the invoice."""

    invoice: str = dspy.InputField(desc="the invoice text, one item a line")
    currency: str = dspy.InputField()
    result: Result = dspy.OutputField(desc="the summary of every line")
    flags: list[Literal["late", "ok"]] = dspy.OutputField()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path)


# -- the prompt ---------------------------------------------------------------------------------


def test_the_root_prompt_shows_every_output_type_and_desc():
    system = system_prompt(Invoice, output_limit=4000, roles={})
    assert "SUBMIT(result=Result, flags=list[Literal['late', 'ok']])" in system
    assert "- `result`: the summary of every line" in system
    assert "- Result(total: float, items: list[Item], status: Literal['paid', 'open'] | None = None)" in system
    assert "An invoice summary." in system
    assert "- Item(name: str, price: float, tags: list[str] = [])" in system
    assert "price: unit price in euros" in system
    assert "`flags`:" not in system  # no desc of its own: DSPy's ${flags} placeholder is not shown


def test_a_plain_signature_keeps_its_short_prompt():
    system = system_prompt(dspy.Signature("question -> answer"), output_limit=4000, roles={})
    assert "Your outputs: SUBMIT(answer=str)\n\nHow to work:" in system
    assert "Output classes" not in system


def test_the_task_prompt_shows_each_input_desc():
    text = task_prompt(Invoice, {"invoice": "pen 2.50", "currency": "EUR"}, [], "", [])
    assert "- `invoice` (str, 8 chars; the invoice text, one item a line): pen 2.50" in text
    assert "- `currency` (str, 3 chars): EUR" in text


# -- classes in the sandbox ---------------------------------------------------------------------


async def test_submit_builds_the_output_classes_by_name(scripted_server, project):
    scripted_server.script("root", code(
        "r = Result(total=5.0, items=[Item(name='pen', price=2.5), Item(name='ink', price=2.5, tags=['blue'])])\n"
        "print(type(r).__name__, r.items[0].tags, r.model_dump()['items'][1])\n"
        "SUBMIT(result=r, flags=['ok'])"))
    rlm, _ = make_rlm(scripted_server, project, signature=Invoice)
    prediction = await rlm.aforward(invoice="pen 2.50\nink 2.50", currency="EUR")
    assert isinstance(prediction.result, Result)
    assert prediction.result.items[1] == Item(name="ink", price=2.5, tags=["blue"])
    assert prediction.flags == ["ok"]
    assert "Result [] {'name': 'ink', 'price': 2.5, 'tags': ['blue']}" in prediction.trajectory[0]["output"]


async def test_the_classes_take_keywords_only_and_know_their_fields(scripted_server, project):
    scripted_server.script("root", code(
        "for make in (lambda: Item('pen', 1.0), lambda: Item(name='pen'), lambda: Item(name='pen', price=1, colour='red')):\n"
        "    try:\n        make()\n    except TypeError as e:\n        print('TypeError', e)\n"
        "a, b = Item(name='a', price=1), Item(name='b', price=2)\n"
        "a.tags.append('x')\nprint(b.tags)\n"
        "SUBMIT(result={'total': 0, 'items': []}, flags=[])"))  # plain dicts still do
    rlm, _ = make_rlm(scripted_server, project, signature=Invoice)
    prediction = await rlm.aforward(invoice="", currency="EUR")
    output = prediction.trajectory[0]["output"]
    assert output.count("TypeError") == 3
    assert "missing 1 required keyword-only argument: 'price'" in output
    assert "unexpected keyword argument 'colour'" in output
    assert output.rstrip().endswith("[]"), "each instance gets its own copy of a default"
    assert prediction.result == Result(total=0, items=[])


async def test_a_rejection_names_the_path_of_the_wrong_part(scripted_server, project):
    scripted_server.script("root", code(
        "SUBMIT(result=Result(total=1, items=[Item(name='a', price=1), Item(name='b', price=1),"
        " Item(name='c', price='lots')]), flags=['late'])"),
        code("SUBMIT(result=Result(total=1, items=[]), flags=['late'])"))
    rlm, rec = make_rlm(scripted_server, project, signature=Invoice)
    prediction = await rlm.aforward(invoice="", currency="EUR")
    error = rec.of(SubmitRejected)[0].error
    assert "result.items[2].price: Input should be a valid number" in error, error
    assert "result.items[2].price" in scripted_server.chat_requests("root")[1].prompt_text
    assert prediction.result == Result(total=1, items=[])


async def test_the_classes_come_back_after_a_restart(scripted_server, project):
    scripted_server.script("root", code("while True:\n    pass"),
                           code("SUBMIT(result=Result(total=2, items=[Item(name='a', price=2)]), flags=[])"))
    rlm, _ = make_rlm(scripted_server, project, signature=Invoice, cell_timeout_s=1.0)
    prediction = await rlm.aforward(invoice="", currency="EUR")
    assert prediction.result == Result(total=2, items=[Item(name="a", price=2)])
    assert len(prediction.trajectory) == 2


def test_the_compact_prompt_of_a_small_model_shows_the_classes_too():
    system = system_prompt(Invoice, output_limit=4000, roles={}, compact=True)
    assert "SUBMIT(result=Result, flags=list[Literal['late', 'ok']]): your final answer" in system
    assert "- Item(name: str, price: float, tags: list[str] = [])" in system
    plain = system_prompt(dspy.Signature("question -> answer"), output_limit=4000, roles={}, compact=True)
    assert "SUBMIT(answer=str): your final answer. Call it as soon as an output shows the answer.\n\nExample" in plain


async def test_predict_can_return_the_output_classes(scripted_server, project):
    scripted_server.default(lambda request: "[[ ## summary ## ]]\n"
                                            '{"total": 2.5, "items": [{"name": "pen", "price": 2.5, "tags": []}]}\n\n'
                                            "[[ ## completed ## ]]")
    scripted_server.script("root", code(
        "r = predict('text -> summary: Result', text='pen 2.50')\n"
        "print(type(r.summary).__name__, type(r.summary.items[0]).__name__, r.summary.items[0].price)\n"
        "SUBMIT(result=r.summary, flags=[])"))
    rlm, _ = make_rlm(scripted_server, project, signature=Invoice)
    prediction = await rlm.aforward(invoice="pen 2.50", currency="EUR")
    assert "Result Item 2.5" in prediction.trajectory[0]["output"], prediction.trajectory[0]["output"]
    assert prediction.result == Result(total=2.5, items=[Item(name="pen", price=2.5)])
