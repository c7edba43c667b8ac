"""The dashboard's verified-bots section: register by key, see the bot's requests counted,
delete it; and the per-path prices of the plan."""

from __future__ import annotations

import json
import re
import uuid

from licensing_api.bots.models import Bot
from licensing_api.db import session_scope
from tests.access.helpers import new_crawler
from tests.bots.helpers import ITEM, register, signed_headers
from tests.dashboard.pages import hidden, signed_in_page, value_of
from tests.standards.signing import public_jwk_of, thumbprint_of


async def test_a_bot_registered_on_the_dashboard_is_listed_and_can_be_deleted(bots_app, bot_key):
    crawler = await new_crawler(bots_app.resources, plan="standard")
    page = await signed_in_page(bots_app.client, crawler.secret)
    assert 'id="no-bots"' in page
    registered = await bots_app.client.post("/dashboard/bots", data={
        "csrf_token": hidden(page, "csrf_token"), "name": "dashbot", "jwk": json.dumps(public_jwk_of(bot_key))})
    assert registered.status_code == 303 and registered.headers["location"] == "/dashboard?done=bot-registered"
    page = (await bots_app.client.get("/dashboard")).text
    keyid = thumbprint_of(public_jwk_of(bot_key))
    assert f'<code class="keyid">{keyid}</code>' in page
    bot_id = re.search(r'class="bot-row" data-bot-id="([^"]+)"', page).group(1)
    deleted = await bots_app.client.post(f"/dashboard/bots/{bot_id}/delete",
                                         data={"csrf_token": hidden(page, "csrf_token")})
    assert deleted.status_code == 303
    async with session_scope(bots_app.resources.sessionmaker) as session:
        bot = await session.get(Bot, uuid.UUID(bot_id))
    assert bot.status == "revoked"


async def test_a_bad_key_is_explained_on_the_dashboard(bots_app):
    crawler = await new_crawler(bots_app.resources, plan="standard")
    page = await signed_in_page(bots_app.client, crawler.secret)
    refused = await bots_app.client.post("/dashboard/bots", data={
        "csrf_token": hidden(page, "csrf_token"), "name": "b", "jwk": "{not json"})
    assert refused.status_code == 400
    assert "must be JSON" in refused.text


async def test_a_registration_without_the_forms_token_is_refused(bots_app, bot_key):
    crawler = await new_crawler(bots_app.resources, plan="standard")
    await signed_in_page(bots_app.client, crawler.secret)
    refused = await bots_app.client.post("/dashboard/bots", data={"name": "b", "jwk": json.dumps(public_jwk_of(bot_key))})
    assert refused.status_code == 403


async def test_the_dashboard_shows_the_price_of_a_request(bots_app):
    crawler = await new_crawler(bots_app.resources, plan="standard")
    page = await signed_in_page(bots_app.client, crawler.secret)
    assert re.search(r'<code>\(any other path\)</code></td><td class="num">1</td><td class="num path-price">USD 0.00<', page)


async def test_a_bots_requests_are_counted_on_its_row(bots_app, bot_key):
    crawler = await new_crawler(bots_app.resources, plan="standard")
    await register(bots_app.client, crawler, keys=[public_jwk_of(bot_key)])
    for _ in range(2):
        assert (await bots_app.client.get(ITEM, headers=signed_headers(bot_key))).status_code == 200
    await bots_app.state["hot_path"].tally.move_once()
    page = await signed_in_page(bots_app.client, crawler.secret)
    assert re.search(r'class="num bot-units"[^>]*data-value="2"', page)
    assert value_of(page, "units-used") == 2
