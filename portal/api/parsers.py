"""Request parsers: DRF's, made safe against hostile bodies."""
from __future__ import annotations

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, but a document nested thousands of levels deep is a 400, not a 500.

    Python's decoder raises RecursionError (not ValueError) on such input, which DRF lets through.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - the document is nested too deeply.") from exc


# Every API view accepts these (JSON first: it is what the schema documents).
PARSER_CLASSES = [JSONParser, parsers.FormParser, parsers.MultiPartParser]
