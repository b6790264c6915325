"""The event contract: fields declared once, validation, decoding (JSON, OTel, OTLP), dead letters."""

__all__: list[str] = []
