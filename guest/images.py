"""`Image` and `Audio`, the guest's media for a sub-model (guest module `_rlm_images`).

Media crosses the door as `{IMAGE_KEY: {"data": base64, "mime": ...}}` (the mime says image or
audio), or, for a data URI or an http(s) URL, as `{IMAGE_KEY: {"url": ...}}`, which the host's
`predict` hands to the sub-model as it is: nothing here or on the host fetches a URL. A PIL
image is sent as PNG.
"""

import os

import _rlm_door as door


class _Media:
    """A picture or a sound for a sub-model, from a file path, bytes, a data URI or an http(s) URL."""

    kind = "media"

    def __init__(self, source, mime=None):
        path = url = None
        data = b""
        if isinstance(source, str) and source.startswith(("data:", "http://", "https://")):
            url = source
            mime = mime or (source[5:].split(";", 1)[0] if source.startswith("data:") else None)
        elif isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
        elif isinstance(source, (str, os.PathLike)):
            path = os.fspath(source)
            with open(path, "rb") as f:
                data = f.read()
        else:
            raise TypeError(f"{type(self).__name__} takes a file path, bytes, a data URI or an http(s) URL, "
                            f"not {type(source).__name__}")
        if url is None:
            mime = mime or self._sniff(data)
            if mime is None:
                raise ValueError(f"{path or 'these bytes'}: not {self.formats}")
        self.data, self.mime, self.path, self.url = data, mime, path, url

    def _marker(self):
        if self.url is not None:
            return {door.IMAGE_KEY: {"url": self.url, "kind": self.kind}}
        import base64

        return {door.IMAGE_KEY: {"data": base64.b64encode(self.data).decode("ascii"), "mime": self.mime}}

    def __repr__(self):
        name = type(self).__name__
        if self.url is not None:
            return f"{name}({self.url[:60]!r}{'...' if len(self.url) > 60 else ''})"
        return f"{name}({self.path!r})" if self.path else f"{name}(<{len(self.data):,} bytes of {self.mime}>)"


class Image(_Media):
    """An image for a sub-model: `Image('/project/chart.png')`, `Image(raw_bytes)` (PNG, JPEG,
    GIF or WebP), `Image('data:image/png;base64,...')` or `Image('https://.../a.png')` (the URL
    goes to the sub-model as it is). Pass it to `predict` in a field typed `Image` (or left untyped)."""

    kind = "image"
    formats = "a PNG, JPEG, GIF or WebP image"

    @staticmethod
    def _sniff(data):
        return _sniff(data)


class Audio(_Media):
    """A sound for a sub-model that takes audio: `Audio('/project/talk.wav')`, `Audio(raw_bytes)`
    (WAV, MP3, OGG or FLAC) or `Audio('data:audio/wav;base64,...')`. Pass it to `predict` in a
    field typed `Audio` (or left untyped)."""

    kind = "audio"
    formats = "a WAV, MP3, OGG or FLAC sound"

    @staticmethod
    def _sniff(data):
        if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
            return "audio/wav"
        if data.startswith(b"ID3") or data[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
            return "audio/mpeg"
        if data.startswith(b"OggS"):
            return "audio/ogg"
        if data.startswith(b"fLaC"):
            return "audio/flac"
        return None


def marker(value):
    """The door's form of an `Image`, an `Audio` or a PIL image, else None."""
    if isinstance(value, _Media):
        return value._marker()
    if type(value).__module__.startswith("PIL.") and hasattr(value, "save"):
        import io

        buffer = io.BytesIO()
        value.save(buffer, format="PNG")
        return Image(buffer.getvalue(), "image/png")._marker()
    return None


def _sniff(data):
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None
