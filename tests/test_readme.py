"""The README's API tour works against the demo account, block by block."""

import re
from pathlib import Path

from app.demo import DEMO_PASSWORD, seed_demo

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```graphql\n(.*?)```", README.read_text(), flags=re.S)


async def test_every_tour_query_runs_against_the_demo(api, settings):
    assert len(BLOCKS) >= 8
    await seed_demo(settings)
    login = await api.data(
        'mutation($p: String!) { login(input: {email: "admin@demo.example", password: $p})'
        " { token } }",
        {"p": DEMO_PASSWORD},
    )
    token = login["login"]["token"]
    for block in BLOCKS:
        body = await api(block, token=token, realm="demo")
        assert not body.get("errors"), (block, body["errors"])
        payloads = [v for v in body["data"].values() if isinstance(v, dict)]
        if "-5" in block:  # the deliberately invalid staffCreate
            codes = {e["code"] for e in payloads[0]["userErrors"]}
            assert {"REQUIRED", "INVALID"} <= codes
            assert payloads[0]["staff"] is None
        else:
            for payload in payloads:
                assert payload.get("userErrors", []) == [], (block, payload)


async def test_demo_seed_is_idempotent_and_hides_personal_data_from_viewers(api, settings):
    await seed_demo(settings)
    await seed_demo(settings)
    login = await api.data(
        'mutation($p: String!) { login(input: {email: "viewer@demo.example", password: $p})'
        " { token } }",
        {"p": DEMO_PASSWORD},
    )
    data = await api.data(
        "{ staff(first: 100) { totalCount nodes { email viewerCanSeePersonalData } } }",
        token=login["login"]["token"],
        realm="demo",
    )
    assert data["staff"]["totalCount"] == 32
    others = [n for n in data["staff"]["nodes"] if not n["viewerCanSeePersonalData"]]
    assert len(others) == 31 and all(n["email"] is None for n in others)


async def test_the_demo_customer_is_a_guest_who_sees_only_their_project(api, settings):
    await seed_demo(settings)
    login = await api.data(
        'mutation($p: String!) { login(input: {email: "customer@demo.example", password: $p})'
        " { token } }",
        {"p": DEMO_PASSWORD},
    )
    auth = {"token": login["login"]["token"], "realm": "demo"}
    data = await api.data(
        """{ viewer { staff { id role kind } }
             projects { name members { staff { id } } }
             staff(first: 100) { totalCount nodes { id fullName title rate1 email } } }""",
        **auth,
    )
    assert data["viewer"]["staff"]["role"] == "GUEST"
    [project] = data["projects"]
    members = {m["staff"]["id"] for m in project["members"]}
    assert {n["id"] for n in data["staff"]["nodes"]} == members
    assert data["staff"]["totalCount"] == len(members) == 6  # 3 staff, 2 administrators, them
    for node in data["staff"]["nodes"]:
        if node["id"] != data["viewer"]["staff"]["id"]:
            assert node["fullName"] and node["rate1"] is None and node["email"] is None
