"""The door protocol: the guest's constants equal the host's, only the guest's door client
talks to the host, every guest module is booted, and the host reads every request strictly
(a forged one is the guest's error, never a host crash or a bad row in the host's hands)."""

from __future__ import annotations

import ast
import json
import threading
from pathlib import Path

import pytest

from rlm_tui.paths import package_data
from rlm_tui.sandbox import Sandbox, protocol
from rlm_tui.sandbox.boot import GUEST_MODULES
from rlm_tui.sandbox.checkpoint import GuestState
from rlm_tui.sandbox.door import Cell, Door
from rlm_tui.sandbox.results import VarInfo
from rlm_tui.sandbox.tickets import HostCalls

GUEST = package_data("guest")


def _tree(name: str) -> ast.Module:
    return ast.parse((GUEST / f"{name}.py").read_text(), name)


def _constants(tree: ast.Module) -> dict[str, object]:
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name.isupper():
                found[name] = ast.literal_eval(node.value)
    return found


def _shared() -> dict[str, object]:
    """The host's constants the guest must hold too: names, keys and request prefixes."""
    return {name: getattr(protocol, name) for name in dir(protocol)
            if name.startswith(("OP", "OK", "ERROR", "STATE_")) and name != "OPS"
            or name in ("IMAGE_KEY", "TYPES_KEY")}


def test_the_guest_door_holds_the_hosts_constants() -> None:
    guest = _constants(_tree("door"))
    shared = _shared()
    assert guest == shared, {k: (guest.get(k), shared.get(k)) for k in guest.keys() | shared.keys()
                             if guest.get(k) != shared.get(k)}


def test_the_guest_sends_every_op_the_host_answers_and_no_other() -> None:
    sent = set()
    for node in ast.walk(_tree("door")):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Name) and key.id == "OP":
                    assert isinstance(value, ast.Name), ast.unparse(node)
                    sent.add(getattr(protocol, value.id))
    assert sent == set(protocol.OPS)


def test_only_the_door_client_calls_the_host_and_every_guest_module_is_booted() -> None:
    files = sorted(path.stem for path in GUEST.glob("*.py"))
    assert sorted(GUEST_MODULES) == files
    for name in files:
        tree = _tree(name)
        imports = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        literals = [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)]
        assert ("_host" in imports) == (name == "door"), name
        if name != "door":  # no request written by hand elsewhere
            assert not any(value in protocol.OPS or value in (protocol.OP, protocol.IMAGE_KEY, protocol.TYPES_KEY)
                           for value in literals if isinstance(value, str)), name
            assert not any(isinstance(value, bytes) and value.startswith((protocol.BOOT, protocol.STATE))
                           for value in literals), name


def test_the_guest_rows_have_the_hosts_keys() -> None:
    rows = [node for node in ast.walk(_tree("variables")) if isinstance(node, ast.Dict)
            and any(isinstance(k, ast.Constant) and k.value == "preview" for k in node.keys)]
    assert [tuple(ast.literal_eval(k) for k in row.keys) for row in rows] == [protocol.ROW_KEYS]
    assert tuple(VarInfo.__dataclass_fields__) == protocol.ROW_KEYS


def _door() -> Door:
    calls = HostCalls()
    door = Door({"add": lambda a, b: a + b}, calls, GuestState(), threading.Event())
    door.cell = Cell(timeout_s=5.0)
    return door


def _ask(door: Door, request: object) -> dict:
    return json.loads(door(json.dumps(request).encode()))


ROW = {"name": "x", "type": "int", "size": None, "preview": "1"}


@pytest.mark.parametrize("row", [
    {**ROW, "name": ["x"]},
    {**ROW, "size": "big"},
    {**ROW, "size": True},
    {**ROW, "preview": None},
    {"name": "x", "type": "int", "size": None},
    {**ROW, "extra": 1},
    "x",
])
def test_a_forged_variable_row_is_refused(row: object) -> None:
    door = _door()
    reply = _ask(door, {"op": "result", "error": None, "variables": [ROW, row]})
    assert reply["error"]["type"] == "ValueError" and "bad host request" in reply["error"]["message"]
    assert door.cell.variables is None  # nothing of it was taken
    assert _ask(door, {"op": "result", "error": None, "variables": [ROW]}) == {"ok": None}
    assert door.cell.variables == [VarInfo("x", "int", None, "1")]


@pytest.mark.parametrize("request_, kind", [
    ({"op": "nope"}, "RuntimeError"),
    ({"op": "submit", "outputs": []}, "TypeError"),
    ({"op": "call", "name": "add", "args": {}}, "TypeError"),
    ({"op": "call", "name": 3}, "ValueError"),
    ({"op": "result", "error": "boom", "variables": []}, "ValueError"),
    ({"op": "checkpoint", "gone": "x"}, "ValueError"),
    ({"op": "restored", "restored": [], "failed": []}, "ValueError"),
    ([1, 2], "ValueError"),
])
def test_malformed_requests_get_errors(request_: object, kind: str) -> None:
    reply = _ask(_door(), request_)
    assert reply["error"]["type"] == kind, reply


def test_requests_answer_as_the_table_says() -> None:
    door = _door()
    assert _ask(door, {"op": "call", "name": "add", "args": [1, 2]}) == {"ok": 3}
    assert _ask(door, {"op": "call", "name": "gone"})["error"]["type"] == "NameError"
    assert _ask(door, {"op": "submit", "outputs": {"a": 1}}) == {"ok": None} and door.cell.submitted == {"a": 1}
    assert _ask(door, {"op": "sleep", "seconds": 0}) == {"ok": None}
    ticket = _ask(door, {"op": "start", "name": "add", "args": [2, 3]})["ok"]
    assert _ask(door, {"op": "wait", "timeout": 5}) == {"ok": [[ticket, {"ok": 5}]]}
    assert door(protocol.BOOT_CODE) == b""  # boot requests only while booting
    door.cell = None
    assert _ask(door, {"op": "submit", "outputs": {}})["error"]["type"] == "RuntimeError"  # no cell running
    door.calls.close()


def test_a_forged_row_from_a_cell_never_reaches_the_host(project: Path) -> None:
    """A cell that silences the real report and forges its own gets no rows in: the runner is
    judged broken and the instance restarted."""
    with Sandbox(project, timeout_s=10) as sandbox:
        result = sandbox.run(
            "import _rlm_door, json, _host\n"
            "_host.call(json.dumps({'op': 'result', 'error': None, 'variables': "
            "[{'name': ['x'], 'type': 1, 'size': 'no', 'preview': None}]}).encode())\n"
            "_rlm_door.send = lambda *a, **k: None")
        assert all(isinstance(v.name, str) for v in result.variables)
        assert result.restarted and "machinery" in (result.error or "")
        assert sandbox.run("1 + 1").stdout == "2\n"
