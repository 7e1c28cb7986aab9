"""`predict(...)` in the guest as predict-rlm code uses it: the result reads its fields as
attributes and still works as a dict; images also go in as data URIs and http(s) URLs (sent to
the sub-LM as image parts, never fetched); `Audio` works like `Image`.
Real litellm HTTP to the scripted server, real WASM sandbox."""

from __future__ import annotations

import base64
import struct
from pathlib import Path

import pytest

from tests.engine.test_async_and_typed import PNG, chat, code
from tests.engine.test_engine import make_rlm
from tests.support.projects import write_project


def wav() -> bytes:
    """A valid, silent 8-sample mono WAV."""
    samples = b"\x00\x00" * 8
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(samples)) + samples
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path, {"pic.png": PNG, "talk.wav": wav()})


def parts(request) -> list[dict]:
    return [p for m in request.messages if isinstance(m.get("content"), list) for p in m["content"]]


async def test_the_result_reads_as_attributes_and_as_a_dict(scripted_server, project):
    scripted_server.default(lambda request: chat(sentiment="pos", score="0.5"))
    scripted_server.script("root", code(
        "r = predict(\"text -> sentiment: Literal['pos', 'neg'], score: float\", text='nice')\n"
        "u = predict('text -> sentiment', text='nice')\n"
        "print(r.sentiment, r['score'], dict(r), isinstance(r, dict), u.sentiment, sorted(r))\n"
        "try:\n    r.mood\nexcept AttributeError as e:\n    print('AttributeError:', e)\n"
        "import json\nprint(json.dumps(r))\n"
        "SUBMIT(answer=r.sentiment)"))
    rlm, _ = make_rlm(scripted_server, project)
    prediction = await rlm.aforward(question="q")
    output = prediction.trajectory[0]["output"]
    assert "pos 0.5 {'sentiment': 'pos', 'score': 0.5} True pos ['score', 'sentiment']" in output
    assert "AttributeError: the prediction has no field 'mood' (its fields: sentiment, score)" in output
    assert '{"sentiment": "pos", "score": 0.5}' in output
    assert prediction.answer == "pos"


async def test_images_go_in_as_data_uris_and_urls_unfetched(scripted_server, project):
    scripted_server.default(lambda request: chat(caption="seen"))
    data_uri = "data:image/png;base64," + base64.b64encode(PNG).decode()
    url = "https://images.example.invalid/cat.png"  # .invalid: nothing could fetch it
    scripted_server.script("root", code(
        f"a = predict('photo: Image -> caption', photo={data_uri!r})\n"
        f"b = predict('photo: Image -> caption', photo={url!r})\n"
        f"c = predict('photos: list[Image] -> caption', photos=[Image({url!r}), Image('/project/pic.png')])\n"
        f"d = predict('photo -> caption', photo=Image({data_uri!r}))\n"
        "print(a.caption, b.caption, c.caption, d.caption)"), code("SUBMIT(answer='ok')"))
    rlm, _ = make_rlm(scripted_server, project)
    prediction = await rlm.aforward(question="q")
    assert "seen seen seen seen" in prediction.trajectory[0]["output"]
    sent = [[p["image_url"]["url"] for p in parts(r) if p.get("type") == "image_url"]
            for r in scripted_server.chat_requests("sub")]
    assert sent == [[data_uri], [url], [url, data_uri], [data_uri]]


async def test_a_path_string_is_not_an_image_url(scripted_server, project):
    scripted_server.script("root", code(
        "try:\n    predict('photo: Image -> caption', photo='/etc/passwd')\n"
        "except Exception as e:\n    print(type(e).__name__, e)"), code("SUBMIT(answer='ok')"))
    rlm, _ = make_rlm(scripted_server, project)
    prediction = await rlm.aforward(question="q")
    assert "is not an http(s) URL or a data URI" in prediction.trajectory[0]["output"]
    assert not scripted_server.chat_requests("sub"), "the host opened nothing and sent nothing"


async def test_audio_goes_to_the_sub_model_like_an_image(scripted_server, project):
    scripted_server.default(lambda request: chat(text="silence"))
    scripted_server.script("root", code(
        "a = predict('clip: Audio -> text', clip=Audio('/project/talk.wav'))\n"
        "b = predict('clip -> text', clip=Audio(open('/project/talk.wav', 'rb').read()))\n"
        "print(a.text, b.text, Audio('/project/talk.wav'))\n"
        "try:\n    Audio(b'not a sound')\nexcept ValueError as e:\n    print('ValueError', e)"),
        code("SUBMIT(answer=a.text)"))
    rlm, _ = make_rlm(scripted_server, project)
    prediction = await rlm.aforward(question="q")
    output = prediction.trajectory[0]["output"]
    assert "silence silence Audio('/project/talk.wav')" in output
    assert "ValueError these bytes: not a WAV, MP3, OGG or FLAC sound" in output
    expected = base64.b64encode(wav()).decode()
    for request in scripted_server.chat_requests("sub"):
        audio = [p["input_audio"] for p in parts(request) if p.get("type") == "input_audio"]
        assert audio == [{"data": expected, "format": "wav"}], request.messages
