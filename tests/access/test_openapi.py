"""The OpenAPI of the crawler routes: security schemes, problem+json errors, examples."""

from __future__ import annotations

CRAWLER_OPERATIONS = [
    ("/v1/content", "get"),
    ("/v1/content/{path}", "get"),
    ("/v1/authorize", "get"),
    ("/v1/usage", "get"),
    ("/v1/keys", "get"),
    ("/v1/keys", "post"),
    ("/v1/keys/{key_id}", "delete"),
    ("/v1/budget", "get"),
    ("/v1/budget", "put"),
    ("/v1/budget", "delete"),
]


async def test_both_security_schemes_are_declared_and_required_by_crawler_routes(client):
    spec = (await client.get("/openapi.json")).json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert schemes["apiKeyHeader"]["in"] == "header"
    assert schemes["apiKeyHeader"]["name"] == "X-API-Key"
    for path, method in CRAWLER_OPERATIONS:
        assert spec["paths"][path][method]["security"] == [{"bearerAuth": []}, {"apiKeyHeader": []}]


async def test_every_crawler_response_is_documented_with_an_example(client):
    spec = (await client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    for path, method in CRAWLER_OPERATIONS:
        operation = spec["paths"][path][method]
        assert operation["summary"]
        for status, response in operation["responses"].items():
            if status == "422":
                continue  # FastAPI's validation entry; rendered as problem+json at runtime
            for media_type, content in response.get("content", {}).items():  # 307: no body
                if media_type == "application/problem+json":
                    assert content.get("examples") or content.get("example"), (path, status)
                elif media_type == "application/json":
                    schema = content["schema"]
                    for alternative in schema.get("anyOf", [schema]):  # e.g. folder or site index
                        ref = alternative["$ref"].rsplit("/", 1)[-1]
                        assert schemas[ref].get("examples") or _nested_examples(schemas, ref), (path, status)


async def test_the_licensed_routes_document_every_refusal(client):
    spec = (await client.get("/openapi.json")).json()
    responses = spec["paths"]["/v1/content/{path}"]["get"]["responses"]
    assert {"200", "400", "401", "402", "403", "404", "429"} <= set(responses)
    assert "Retry-After" in responses["429"]["headers"]
    assert "WWW-Authenticate" in responses["401"]["headers"]
    assert "X-Usage-Units" in responses["200"]["headers"]
    examples = responses["402"]["content"]["application/problem+json"]["examples"]
    assert {"license-required", "account-suspended"} <= set(examples)


def _nested_examples(schemas, name):
    """A list body (e.g. KeyList) is documented by the example of its items' schema."""
    for prop in schemas[name].get("properties", {}).values():
        ref = prop.get("items", {}).get("$ref")
        if ref and schemas[ref.rsplit("/", 1)[-1]].get("examples"):
            return True
    return False
