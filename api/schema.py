"""What drf-spectacular cannot infer from the views, said in the schema."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema


class QueryAutoSchema(AutoSchema):
    """For views whose query string is read by a serializer: DRF reads an optional
    parameter sent empty (`?procedure=`) as one not sent, as an HTML form's empty select is.
    The schema says so (allowEmptyValue)."""

    def _get_parameters(self):
        parameters = super()._get_parameters()
        for parameter in parameters:
            if parameter["in"] == "query" and not parameter.get("required"):
                parameter["allowEmptyValue"] = True
        return parameters


class RequiredBodyAutoSchema(AutoSchema):
    """A request body that must be there (the chunk of a file): drf-spectacular marks a body
    required only from a serializer's required fields."""

    def _get_request_body(self, direction="request"):
        body = super()._get_request_body(direction)
        if body is not None:
            body["required"] = True
        return body
