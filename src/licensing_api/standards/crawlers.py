"""Known AI crawlers, recognised by User-Agent and counted for the publisher.

The list is a bundled data file (`data/ai_crawlers.txt`, its source noted at its top). Every
request from a known crawler is counted in `licensing_crawler_requests_total{crawler,outcome}`,
refused ones included, by the request edge (observability/middleware.py). Recognition splits the header into words and
looks them up in a dictionary, once per distinct User-Agent string; results are memoised, so a
steady stream of the same crawler costs one dictionary lookup.
"""

from __future__ import annotations

import re
from pathlib import Path

BUNDLED_CRAWLER_LIST = Path(__file__).resolve().parent / "data" / "ai_crawlers.txt"
MEMO_LIMIT = 4096  # distinct User-Agent strings remembered per worker

OUTCOME_BY_STATUS = {
    401: "unauthenticated",
    402: "payment_required",
    403: "forbidden",
    404: "not_found",
    429: "rate_limited",
}


def outcome_for_status(status: int) -> str:
    if 200 <= status < 400:
        return "served"
    return OUTCOME_BY_STATUS.get(status, "client_error" if status < 500 else "server_error")


def load_crawler_names(path: Path = BUNDLED_CRAWLER_LIST) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        name = line.split("#", 1)[0].strip()
        if name and name.lower() not in seen:
            seen.add(name.lower())
            names.append(name)
    return names


WORD = re.compile(r"[A-Za-z0-9_.-]+")


class CrawlerDirectory:
    """Maps a User-Agent header to the canonical name of a known AI crawler, or None.

    The header is split into words once and the words (and runs of two or three, for names
    such as "ChatGPT Agent") are looked up in a dictionary: the cost does not grow with the
    list, and a name must stand as whole words ("GPTBot/1.2" matches, "NotGPTBotish" not).
    """

    def __init__(self, names: list[str]) -> None:
        self._canonical = {" ".join(name.lower().split()): name for name in names}
        # First words of multi-word names, each with the word counts to try, longest first.
        self._runs: dict[str, tuple[int, ...]] = {}
        for key in self._canonical:
            words = key.split()
            if len(words) > 1:
                lengths = set(self._runs.get(words[0], ())) | {len(words)}
                self._runs[words[0]] = tuple(sorted(lengths, reverse=True))
        self._memo: dict[str, str | None] = {}

    @classmethod
    def bundled(cls) -> CrawlerDirectory:
        return cls(load_crawler_names())

    def identify(self, user_agent: str) -> str | None:
        try:
            return self._memo[user_agent]
        except KeyError:
            pass
        name = self._lookup(user_agent)
        if len(self._memo) >= MEMO_LIMIT:
            self._memo.clear()  # a flood of random agents must not grow memory without bound
        self._memo[user_agent] = name
        return name

    def _lookup(self, user_agent: str) -> str | None:
        words = [w.strip(".-").lower() for w in WORD.findall(user_agent)]
        canonical, runs = self._canonical, self._runs
        for start, word in enumerate(words):
            for length in runs.get(word, ()):
                name = canonical.get(" ".join(words[start:start + length]))
                if name is not None:
                    return name
            name = canonical.get(word)
            if name is not None:
                return name
        return None

    def __len__(self) -> int:
        return len(self._canonical)
