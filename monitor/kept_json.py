"""JSON for bytes that stay in memory (join-store payloads), encoded at their exact size.

orjson writes into a buffer of about a kilobyte and shrinks it in place; every payload the
in-process join store keeps then pins its hole. Measured here with 200,000 inference payloads
kept: 3.7 KB more heap per payload and 2.0 µs per encoding against 0.7 µs. msgspec's encoder
returns a bytes object of the document's own size.

>>> kept_json({"id": "inf:0:5:0", "t": 1.5, "s": {}})
b'{"id":"inf:0:5:0","t":1.5,"s":{}}'
"""

from __future__ import annotations

import msgspec

__all__ = ["kept_json"]

kept_json = msgspec.json.Encoder().encode
