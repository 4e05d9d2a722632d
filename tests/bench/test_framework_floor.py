"""The framework floor compares equals: every app it times gives the same answer."""

import orjson

from bench.framework_floor import ANSWER, apps_to_compare, same_answers
from tests.conftest import make_settings


async def test_every_app_of_the_framework_floor_answers_alike(tmp_path):
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}")
    answer = await same_answers(apps_to_compare(settings))
    assert orjson.loads(answer) == {"data": ANSWER}
