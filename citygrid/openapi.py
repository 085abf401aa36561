"""Completing the OpenAPI schema with the error answers every endpoint can give, so that clients (and the
schema fuzzing in the tests) know them: 400 field errors, 401/403 refusals, 404 outside one's scope, 409 for
a case changed meanwhile, 429 rate limits, 503 when the database is unavailable."""

ERRORS = {
    "400": "Invalid input: field name → list of messages",
    "401": "Not authenticated",
    "403": "Not allowed by the endpoint's policy",
    "404": "Not found, or outside the user's scope",
    "409": "The case changed meanwhile, or the action does not fit its state (current status and version)",
    "415": "The body is not JSON, a form or multipart (or is malformed)",
    "429": "Too many requests",
    "503": "The database is unavailable; nothing was saved, retry (same client_uuid)",
}


DETAIL = {"type": "object", "required": ["detail"], "additionalProperties": False,
          "properties": {"detail": {"type": "string"}}, "description": "Why not, in the user's language"}
# 400: field → messages (a NUL byte, a date that does not exist, a text over its column…), or a detail when
# the body itself could not be read.
FIELD_ERRORS = {"oneOf": [
    {"type": "object", "minProperties": 1, "not": {"required": ["detail"]},
     "additionalProperties": {"$ref": "#/components/schemas/FieldMessages"}},
    {"$ref": "#/components/schemas/ErrorDetail"}], "description": "field name → list of messages"}
# A field's messages; for a list or a nested object, its items' (index or key → messages).
FIELD_MESSAGES = {"oneOf": [{"type": "array", "items": {"type": "string"}, "minItems": 1},
                            {"type": "object", "minProperties": 1,
                             "additionalProperties": {"$ref": "#/components/schemas/FieldMessages"}}]}
CONFLICT = {"type": "object", "required": ["detail", "status", "version", "allowed_actions"],
            "additionalProperties": False, "properties": {
                "detail": {"type": "string"}, "status": {"type": "string"}, "version": {"type": "integer"},
                "allowed_actions": {"type": "array", "items": {"type": "string"}}}}


def add_error_responses(result: dict, generator, request, public) -> dict:
    """Each error status with the exact shape the API answers it with (so the schema fuzzing can fail when an
    answer does not match)."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.update({"ErrorDetail": DETAIL, "FieldErrors": FIELD_ERRORS, "FieldMessages": FIELD_MESSAGES,
                    "Conflict": CONFLICT})
    shapes = {"400": "FieldErrors", "409": "Conflict"}
    for path, item in result.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for code, text in ERRORS.items():
                if code == "409" and not (method == "post" and path.startswith("/api/cases/{")):
                    continue
                if code == "415" and method not in ("post", "put", "patch"):
                    continue
                schema = {"$ref": f"#/components/schemas/{shapes.get(code, 'ErrorDetail')}"}
                response = operation["responses"].setdefault(code, {"description": text})
                if not response.get("content"):  # a view's own declaration of this status stands
                    response["content"] = {"application/json": {"schema": schema}}
    return result
