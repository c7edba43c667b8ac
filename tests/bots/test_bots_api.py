"""`POST/GET /v1/bots`, `DELETE /v1/bots/{id}`: a customer registers its crawler's Web Bot
Auth identity by key directory or uploaded JWKs."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.access.helpers import new_crawler
from tests.standards.independent_signer import public_jwk
from tests.standards.signing import public_jwk_of, thumbprint_of


async def test_a_bot_registered_by_its_directory_lists_the_directory_keys(bots_app, directory_server, bot_key):
    crawler = await new_crawler(bots_app.resources)
    directory_server.keys = [public_jwk_of(bot_key)]
    created = await bots_app.client.post("/v1/bots", headers=crawler.headers,
                                         json={"name": "examplebot", "directory_url": directory_server.base_url})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["directory_url"] == directory_server.directory_url
    assert body["keys"] == [{"keyid": thumbprint_of(public_jwk_of(bot_key)), "kty": "OKP", "source": "directory"}]
    assert body["directory_fresh_until"] is not None
    listed = await bots_app.client.get("/v1/bots", headers=crawler.headers)
    assert [bot["id"] for bot in listed.json()["items"]] == [body["id"]]


async def test_a_bot_registered_by_uploaded_jwks(bots_app):
    crawler = await new_crawler(bots_app.resources)
    keys = [public_jwk_of(Ed25519PrivateKey.generate()), public_jwk(rsa.generate_private_key(65537, 2048))]
    created = await bots_app.client.post("/v1/bots", headers=crawler.headers, json={"name": "b", "keys": keys})
    assert created.status_code == 201, created.text
    assert [k["kty"] for k in created.json()["keys"]] == ["OKP", "RSA"]
    assert created.json()["directory_url"] is None


async def test_a_key_registered_by_another_customer_is_refused(bots_app, bot_key):
    first, second = await new_crawler(bots_app.resources), await new_crawler(bots_app.resources)
    body = {"name": "b", "keys": [public_jwk_of(bot_key)]}
    assert (await bots_app.client.post("/v1/bots", headers=first.headers, json=body)).status_code == 201
    taken = await bots_app.client.post("/v1/bots", headers=second.headers, json=body)
    assert taken.status_code == 409
    assert taken.json()["type"].endswith("/bot-key-taken")


async def test_an_unreachable_or_untrusted_directory_is_a_clear_400(bots_app):
    crawler = await new_crawler(bots_app.resources)
    response = await bots_app.client.post(
        "/v1/bots", headers=crawler.headers, json={"name": "b", "directory_url": "https://127.0.0.1:9/"})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "could not be fetched" in response.json()["detail"]


async def test_a_registration_needs_exactly_one_of_directory_and_keys(bots_app, bot_key):
    crawler = await new_crawler(bots_app.resources)
    neither = await bots_app.client.post("/v1/bots", headers=crawler.headers, json={"name": "b"})
    both = await bots_app.client.post("/v1/bots", headers=crawler.headers, json={
        "name": "b", "directory_url": "https://bot.example", "keys": [public_jwk_of(bot_key)]})
    private = await bots_app.client.post("/v1/bots", headers=crawler.headers, json={
        "name": "b", "keys": [dict(public_jwk_of(bot_key), d="secret")]})
    assert (neither.status_code, both.status_code, private.status_code) == (400, 400, 400)
    assert "private key" in private.json()["detail"]


async def test_a_deleted_bot_is_gone_and_its_key_can_be_registered_again(bots_app, bot_key):
    crawler = await new_crawler(bots_app.resources)
    body = {"name": "b", "keys": [public_jwk_of(bot_key)]}
    bot_id = (await bots_app.client.post("/v1/bots", headers=crawler.headers, json=body)).json()["id"]
    deleted = await bots_app.client.delete(f"/v1/bots/{bot_id}", headers=crawler.headers)
    assert deleted.status_code == 204
    assert (await bots_app.client.get("/v1/bots", headers=crawler.headers)).json()["items"] == []
    assert (await bots_app.client.delete(f"/v1/bots/{bot_id}", headers=crawler.headers)).status_code == 404
    assert (await bots_app.client.post("/v1/bots", headers=crawler.headers, json=body)).status_code == 201


async def test_a_customer_cannot_delete_another_customers_bot(bots_app, bot_key):
    owner, other = await new_crawler(bots_app.resources), await new_crawler(bots_app.resources)
    bot_id = (await bots_app.client.post("/v1/bots", headers=owner.headers,
                                         json={"name": "b", "keys": [public_jwk_of(bot_key)]})).json()["id"]
    assert (await bots_app.client.delete(f"/v1/bots/{bot_id}", headers=other.headers)).status_code == 404


async def test_a_bots_credential_is_not_one_of_the_customers_keys(bots_app, bot_key):
    crawler = await new_crawler(bots_app.resources)
    await bots_app.client.post("/v1/bots", headers=crawler.headers, json={"name": "b", "keys": [public_jwk_of(bot_key)]})
    keys = (await bots_app.client.get("/v1/keys", headers=crawler.headers)).json()["items"]
    assert [key["id"] for key in keys] == [str(crawler.key_id)]


async def test_bots_need_an_api_key(bots_app):
    assert (await bots_app.client.get("/v1/bots")).status_code == 402
