"""Evidence pooled in Redis (``SHIPYARD_REDIS_URL``): one Lua script applies a push.

Keys of a deployment share the hash tag ``{<deployment>}``:

- ``shipyard:evidence:{d}:s:<route>\\x1f<period>``: a hash of counts (``requests``,
  ``errors``, ``labelled``, ... and model-time buckets ``t<index>``), incremented with
  HINCRBYFLOAT; kept a week after its last change;
- ``...:q:<request id>``: a hash per request: its ticket (``route``, ``period``, ``pred``),
  the first ``label`` and ``reward`` posted (HSETNX) and whether each was credited (``lc``,
  ``rc``); it expires ``ticket_ttl`` seconds after it was written;
- ``...:period``: the current epoch of the deployment and the revision it began at.

The script credits a request once it has both a ticket and uncounted feedback, whichever
arrived first, so a label is counted once whoever posts it, on the ticket's own period.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import orjson

from shipyard.errors import InvalidInput, Unavailable
from shipyard.serving._evidence import (
    TICKET_TTL,
    Batch,
    EvidenceStore,
    Key,
    counts_of,
    period_of,
    stats_of,
)
from shipyard.serving._stats import RouteStats

__all__ = ["RedisEvidence"]

_SEP = "\x1f"
_COUNTS_TTL = 7 * 86_400

_PUSH = """
local p, ttl, keep = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local batch = cjson.decode(ARGV[4])
local function credit(id)
  local q = p .. 'q:' .. id
  local r = redis.call('HMGET', q, 'route', 'period', 'pred', 'label', 'reward', 'lc', 'rc')
  if not r[1] then return end
  local s = p .. 's:' .. r[1] .. '\\31' .. r[2]
  local touched = false
  if r[4] and not r[6] then
    redis.call('HSET', q, 'lc', '1')
    redis.call('HINCRBYFLOAT', s, 'labelled', 1)
    if r[4] == r[3] then redis.call('HINCRBYFLOAT', s, 'correct', 1) end
    touched = true
  end
  if r[5] and not r[7] then
    local v = tonumber(r[5])
    redis.call('HSET', q, 'rc', '1')
    redis.call('HINCRBYFLOAT', s, 'rewarded', 1)
    redis.call('HINCRBYFLOAT', s, 'rewards', r[5])
    redis.call('HINCRBYFLOAT', s, 'rewards_sq', string.format('%.17g', v * v))
    touched = true
  end
  if touched then redis.call('EXPIRE', s, keep) end
end
for _, d in ipairs(batch.deltas) do
  local s = p .. 's:' .. d[1] .. '\\31' .. d[2]
  for name, value in pairs(d[3]) do redis.call('HINCRBYFLOAT', s, name, value) end
  redis.call('EXPIRE', s, keep)
end
for _, t in ipairs(batch.tickets) do
  local q = p .. 'q:' .. t[1]
  redis.call('HSET', q, 'route', t[2], 'period', t[3], 'pred', t[4])
  redis.call('EXPIRE', q, ttl)
  credit(t[1])
end
for _, f in ipairs(batch.feedback) do
  local q = p .. 'q:' .. f[1]
  if f[2] ~= '' then redis.call('HSETNX', q, 'label', f[2]) end
  if f[3] ~= '' then redis.call('HSETNX', q, 'reward', f[3]) end
  if redis.call('TTL', q) < 0 then redis.call('EXPIRE', q, ttl) end
  credit(f[1])
end
return 1
"""

_BEGIN = """
local k, epoch, rev = KEYS[1], ARGV[1], tonumber(ARGV[2])
local cur = redis.call('HMGET', k, 'epoch', 'start')
if cur[1] == epoch then return tonumber(cur[2]) end
if not cur[2] or tonumber(cur[2]) < rev then
  redis.call('HSET', k, 'epoch', epoch, 'start', rev)
end
return rev
"""


class RedisEvidence(EvidenceStore):
    """Evidence in Redis at ``url`` (``redis://host:6379/0``); connects on first use.
    Tickets expire ``ticket_ttl`` seconds after they are written."""

    def __init__(self, url: str, *, ticket_ttl: float = TICKET_TTL) -> None:
        self.url = url
        self.ticket_ttl = ticket_ttl
        self._client: Any = None
        self._scripts: dict[str, Any] = {}

    @property
    def client(self) -> Any:
        if self._client is None:
            try:
                import redis
            except ImportError as exc:  # pragma: no cover - the extra is missing
                raise InvalidInput(
                    "SHIPYARD_REDIS_URL is set but the redis package is not installed. "
                    "Try: pip install 'shipyard[redis]'"
                ) from exc
            self._client = redis.Redis.from_url(self.url, decode_responses=True)
            self._scripts = {
                "push": self._client.register_script(_PUSH),
                "begin": self._client.register_script(_BEGIN),
            }
        return self._client

    @staticmethod
    def _prefix(deployment: str) -> str:
        return f"shipyard:evidence:{{{deployment}}}:"

    def _call(self, name: str, keys: list[str], args: list[Any]) -> Any:
        client = self.client
        try:
            return self._scripts[name](keys=keys, args=args, client=client)
        except Exception as exc:
            raise Unavailable(f"Cannot pool evidence in Redis at {self.url}: {exc}") from exc

    def push(self, deployment: str, batch: Batch) -> None:
        payload = {
            "deltas": [  # values as text: Lua numbers would reach Redis with 14 digits
                [route, period, {k: repr(v) for k, v in counts_of(stats).items()}]
                for (route, period), stats in batch.deltas.items()
                if not stats.empty
            ],
            "tickets": [[i, s.route, s.period, s.prediction] for i, s in batch.tickets],
            "feedback": [
                [f.request_id, f.label or "", "" if f.reward is None else repr(f.reward)]
                for f in batch.feedback
            ],
        }
        if not any(payload.values()):
            return
        args = [self._prefix(deployment), int(self.ticket_ttl), _COUNTS_TTL]
        self._call("push", [], [*args, orjson.dumps(payload).decode()])

    def totals(self, deployment: str, keys: Collection[Key]) -> dict[Key, RouteStats]:
        keys = list(keys)
        prefix = self._prefix(deployment)
        try:
            with self.client.pipeline(transaction=False) as pipe:
                for route, period in keys:
                    pipe.hgetall(f"{prefix}s:{route}{_SEP}{period}")
                found = pipe.execute()
        except Exception as exc:
            raise Unavailable(f"Cannot read evidence from Redis at {self.url}: {exc}") from exc
        return {key: stats_of(counts) for key, counts in zip(keys, found, strict=True)}

    def lookup(self, deployment: str, ids: Sequence[str]) -> dict[str, Key]:
        prefix = self._prefix(deployment)
        try:
            with self.client.pipeline(transaction=False) as pipe:
                for request_id in ids:
                    pipe.hmget(f"{prefix}q:{request_id}", "route", "period")
                found = pipe.execute()
        except Exception as exc:
            raise Unavailable(f"Cannot read evidence from Redis at {self.url}: {exc}") from exc
        return {i: (r, p) for i, (r, p) in zip(ids, found, strict=True) if r is not None}

    def begin(self, deployment: str, epoch: str, revision: int) -> str:
        start = self._call("begin", [self._prefix(deployment) + "period"], [epoch, revision])
        return period_of(int(start), epoch)

    def forget(self, deployment: str) -> None:
        try:
            keys = list(self.client.scan_iter(match=self._prefix(deployment) + "*", count=1000))
            for start in range(0, len(keys), 1000):
                self.client.delete(*keys[start : start + 1000])
        except Exception as exc:
            raise Unavailable(f"Cannot forget evidence in Redis at {self.url}: {exc}") from exc

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
