"""`Image`, the guest's picture for a sub-model (guest module `_rlm_images`).

An image crosses the door as `{IMAGE_KEY: {"data": base64, "mime": ...}}`, which the host's
`predict` turns back into a picture; a PIL image is sent as PNG.
"""

import os

import _rlm_door as door


class Image:
    """An image for a sub-model: `Image('/project/chart.png')` or `Image(raw_bytes)` (PNG, JPEG,
    GIF or WebP). Pass it to `predict` in a field typed `Image` (or left untyped)."""

    def __init__(self, source, mime=None):
        path = None
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
        elif isinstance(source, (str, os.PathLike)):
            path = os.fspath(source)
            with open(path, "rb") as f:
                data = f.read()
        else:
            raise TypeError(f"Image takes a file path or bytes, not {type(source).__name__}")
        mime = mime or _sniff(data)
        if mime is None:
            raise ValueError(f"{path or 'these bytes'}: not a PNG, JPEG, GIF or WebP image")
        self.data, self.mime, self.path = data, mime, path

    def _marker(self):
        import base64

        return {door.IMAGE_KEY: {"data": base64.b64encode(self.data).decode("ascii"), "mime": self.mime}}

    def __repr__(self):
        return f"Image({self.path!r})" if self.path else f"Image(<{len(self.data):,} bytes of {self.mime}>)"


def marker(value):
    """The door's form of an `Image` or a PIL image, else None."""
    if isinstance(value, Image):
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
