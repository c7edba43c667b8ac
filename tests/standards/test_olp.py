"""The RSL License Server (OLP token endpoint): a key holder obtains a license token for
its plan's license; everyone else learns how to get one."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET

from tests.access.helpers import new_crawler

NS = "{https://rslstandard.org/rsl}"
RESOURCE = "http://127.0.0.1:8000/v1/content/sourdough-chemistry"


def basic(secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"crawler:{secret}".encode()).decode()}


async def plan_license(client, plan_id: str) -> str:
    """The `<license>` element license.xml offers for a plan, as a client would copy it."""
    root = ET.fromstring((await client.get("/license.xml")).content)
    for license_ in root.iter(f"{NS}license"):
        if license_.find(f"{NS}payment/{NS}custom").text.endswith(f"#plan-{plan_id}"):
            return ET.tostring(license_, encoding="unicode")
    raise AssertionError(plan_id)


async def test_a_key_holder_gets_a_license_token_for_its_plan(client, resources):
    crawler = await new_crawler(resources, plan="standard")
    response = await client.post(
        "/olp/token", headers=basic(crawler.secret),
        data={"grant_type": "rsl", "license": await plan_license(client, "standard"), "resource": RESOURCE},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "License" and body["license"] == "standard"
    served = await client.get("/v1/content/sourdough-chemistry",
                              headers={"Authorization": f"License {body['access_token']}"})
    assert served.status_code == 200


async def test_a_client_without_credentials_is_sent_to_signup(client, settings):
    response = await client.post(
        "/olp/token",
        data={"grant_type": "rsl", "license": await plan_license(client, "standard"), "resource": RESOURCE},
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.json()["signup_url"] == f"{settings.public_base_url}/v1/signup"
    assert response.headers["www-authenticate"].startswith("Basic")


async def test_a_license_for_another_plan_is_not_granted(client, resources):
    crawler = await new_crawler(resources, plan="standard")
    response = await client.post(
        "/olp/token", headers=basic(crawler.secret),
        data={"grant_type": "rsl", "license": await plan_license(client, "premium"), "resource": RESOURCE},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert "standard" in response.json()["error_description"]


async def test_only_the_rsl_grant_type_is_supported(client, resources):
    crawler = await new_crawler(resources, plan="standard")
    response = await client.post("/olp/token", headers=basic(crawler.secret),
                                 data={"grant_type": "client_credentials"})
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


async def test_a_resource_outside_the_licensed_content_is_refused(client, resources):
    crawler = await new_crawler(resources, plan="standard")
    response = await client.post(
        "/olp/token", headers=basic(crawler.secret),
        data={"grant_type": "rsl", "license": await plan_license(client, "standard"),
              "resource": "https://elsewhere.example/page"},
    )
    assert response.json()["error"] == "invalid_target"


async def test_a_malformed_license_element_is_an_invalid_request(client, resources):
    crawler = await new_crawler(resources, plan="standard")
    response = await client.post(
        "/olp/token", headers=basic(crawler.secret),
        data={"grant_type": "rsl", "license": "<license", "resource": RESOURCE},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
