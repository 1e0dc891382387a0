"""EC2's XML: `<ActionResponse xmlns=...><requestId>` documents and the `<Response><Errors>` error.

A response body is plain data: a dict is a structure, a list an EC2 set (each member an `<item>`),
booleans are `true`/`false`, datetimes ISO 8601 in UTC, None is left out.
"""
from __future__ import annotations

from datetime import UTC, datetime
from xml.sax.saxutils import escape

XMLNS = "http://ec2.amazonaws.com/doc/2016-11-15/"


def timestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _write(out: list[str], name: str, value) -> None:
    if value is None:
        return
    if isinstance(value, dict):
        out.append(f"<{name}>")
        for key, child in value.items():
            _write(out, key, child)
        out.append(f"</{name}>")
    elif isinstance(value, list | tuple):
        if not value:
            out.append(f"<{name}/>")
            return
        out.append(f"<{name}>")
        for child in value:
            _write(out, "item", child)
        out.append(f"</{name}>")
    elif isinstance(value, bool):
        out.append(f"<{name}>{'true' if value else 'false'}</{name}>")
    elif isinstance(value, datetime):
        out.append(f"<{name}>{timestamp(value)}</{name}>")
    else:
        out.append(f"<{name}>{escape(str(value))}</{name}>")


def response(action: str, request_id: str, body: dict) -> str:
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n', f'<{action}Response xmlns="{XMLNS}">',
           f"<requestId>{request_id}</requestId>"]
    for key, value in body.items():
        _write(out, key, value)
    out.append(f"</{action}Response>")
    return "".join(out)


def error(code: str, message: str, request_id: str) -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Response><Errors><Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
            f"</Errors><RequestID>{request_id}</RequestID></Response>")
