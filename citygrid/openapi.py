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


def add_error_responses(result: dict, generator, request, public) -> dict:
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = {
        "type": "object", "additionalProperties": True,
        "properties": {"detail": {"type": "string"}}, "description": "An error: `detail`, or field → messages"}
    for path, item in result.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for code, text in ERRORS.items():
                if code == "409" and not (method == "post" and path.startswith("/api/cases/{")):
                    continue
                if code == "415" and method not in ("post", "put", "patch"):
                    continue
                operation["responses"].setdefault(code, {
                    "description": text,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
    return result
