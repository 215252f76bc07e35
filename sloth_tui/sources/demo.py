"""A synthetic but plausible event stream for `sloth-tui demo` (and for screenshots).

Events come from little stories that unfold over time (a deploy starts and, seconds
later, completes or fails; a workflow runs its tasks; an attacker hammers a login)
across every catalog category, at a steady `rate` with occasional bursts. Everything
goes through `api.dispatch(..., source="demo")` (any EngineAPI); the sample hooks from
`install_demo_hooks` then add their own chains (a failed deploy dispatches a rollback).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sloth_tui import catalog
from sloth_tui.config import Settings
from sloth_tui.model.errors import SlothError
from sloth_tui.sources.status import Status

if TYPE_CHECKING:
    from sloth_tui.engine.api import EngineAPI
    from sloth_tui.model.stats import SourceHealth
    from sloth_tui.sources.options import SourceOptions

SERVICES = ("api-server", "billing", "auth", "search", "web-frontend", "payments", "notifier")
AGENTS = ("agent-web-01", "agent-web-02", "agent-db-02", "agent-build-03", "agent-eu-04")
USERS = ("alice", "bob", "carol", "dave", "deploy-bot")
TASKS = ("checkout", "build_image", "run_tests", "push_image", "migrate_db", "smoke_test")
DATABASES = ("orders", "users", "inventory", "analytics")
STACKS = ("prod-network", "prod-eks", "staging-preview-42", "edge-cdn")
SECRETS = ("db-password", "aws-access-key", "tls-cert-api", "stripe-key", "github-token")
PATHS = (
    "/srv/app/config.yaml",
    "/var/log/app/app.log",
    "/etc/nginx/nginx.conf",
    "/srv/data/export.csv",
)
TICK = 0.05  # longest sleep between pacing steps
BURST_CHANCE = 0.04  # per second

Step = tuple[float, str, dict[str, Any]]  # (delay from story start, type, data)


def make(type_name: str, **fields: Any) -> dict[str, Any]:
    """Catalog sample data for the type, `fields` replacing samples (`a__b` sets a.b)."""
    data = catalog.sample_data(type_name)
    for name, value in fields.items():
        *parents, leaf = name.split("__")
        node = data
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return data


def at(delay: float, type_name: str, **fields: Any) -> Step:
    return (delay, type_name, make(type_name, **fields))


class Stories:
    """Each method returns the timed steps of one small incident or routine."""

    def __init__(self, rng: random.Random) -> None:
        self.r = rng
        self.ids = itertools.count(1000)

    def _id(self, prefix: str) -> str:
        return f"{prefix}-{next(self.ids)}"

    def _ip(self) -> str:
        return f"198.51.100.{self.r.randint(2, 254)}"

    def _version(self) -> str:
        return f"v2.{self.r.randint(0, 9)}.{self.r.randint(0, 20)}"

    def deploy(self) -> list[Step]:
        r, svc, dep, ver = self.r, self.r.choice(SERVICES), self._id("deploy"), self._version()
        env = r.choice(("production", "staging"))
        steps = [at(0, "deploy.started", deploy_id=dep, service=svc, version=ver, environment=env)]
        took = r.uniform(1.5, 5)
        if r.random() < 0.25:
            error = r.choice(
                ("health check timed out after 30s", "image pull backoff", "OOMKilled")
            )
            rollback = r.random() < 0.7
            kw = {"deploy_id": dep, "service": svc, "error": error, "rollback_needed": rollback}
            return [*steps, at(took, "deploy.failed", **kw)]
        duration = f"{r.randint(1, 9)}m{r.randint(0, 59)}s"
        kw = {"deploy_id": dep, "service": svc, "version": ver, "duration": duration}
        steps.append(at(took, "deploy.completed", **kw))
        return [*steps, at(took + 0.5, "health.check_passed", service=svc)]

    def workflow(self) -> list[Step]:
        r, wf = self.r, self._id("wf")
        name = r.choice(("release-pipeline", "nightly-etl", "backup-databases", "cert-renewal"))
        tasks = r.sample(TASKS, r.randint(2, 4))
        steps = [
            at(0, "workflow.started", workflow_name=name, workflow_id=wf, task_count=len(tasks))
        ]
        t, failed = 0.3, []
        for task in tasks:
            agent = r.choice(AGENTS)
            steps.append(at(t, "task.started", task_name=task, agent_name=agent))
            t += r.uniform(0.3, 1.5)
            roll = r.random()
            if roll < 0.1:
                steps.append(at(t, "task.failed", task_name=task, agent_name=agent))
                failed.append(task)
            elif roll < 0.15:
                steps.append(at(t, "task.retrying", task_name=task, attempt=2))
            elif roll < 0.18:
                steps.append(at(t, "task.timeout", task_name=task, agent_name=agent))
                failed.append(task)
            else:
                took = f"{r.randint(2, 90)}s"
                steps.append(
                    at(t, "task.completed", task_name=task, agent_name=agent, duration=took)
                )
        if failed:
            error = f"{len(failed)} of {len(tasks)} tasks failed"
            kw = {"workflow_name": name, "failed_tasks": failed, "error": error}
            return [*steps, at(t + 0.2, "workflow.failed", **kw)]
        kw = {"workflow_name": name, "workflow_id": wf, "duration": f"{int(t)}s"}
        return [*steps, at(t + 0.2, "workflow.completed", **kw)]

    def health(self) -> list[Step]:
        r, svc = self.r, self.r.choice(SERVICES)
        if r.random() < 0.8:
            took = f"{r.randint(5, 120)}ms"
            return [at(0, "health.check_passed", service=svc, response_time=took)]
        steps = [
            at(i * 0.7, "health.check_failed", service=svc, consecutive_failures=i + 1)
            for i in range(r.randint(1, 4))
        ]
        steps.append(at(3.5, "health.degraded", service=svc))
        return [*steps, at(6.0, "health.recovered", service=svc, downtime_duration="6s")]

    def agent(self) -> list[Step]:
        r, name = self.r, self.r.choice(AGENTS)
        kind = r.choice(("heartbeat", "resource", "update", "mismatch", "register"))
        if kind == "heartbeat":
            return [
                at(0, "agent.heartbeat_failed", agent__name=name),
                at(1.5, "agent.disconnected", agent__name=name),
                at(4.0, "agent.connected", agent__name=name),
            ]
        if kind == "resource":
            res, cur = r.choice(("cpu", "memory")), round(r.uniform(86, 99), 1)
            return [at(0, "agent.resource_high", agent__name=name, resource=res, current=cur)]
        if kind in ("update", "mismatch"):
            t = "agent.updated" if kind == "update" else "agent.version_mismatch"
            return [at(0, t, agent__name=name)]
        return [
            at(0, "agent.registered", agent__name=name),
            at(0.4, "agent.connected", agent__name=name),
        ]

    def security(self) -> list[Step]:
        r = self.r
        if r.random() < 0.75:
            ip = f"203.0.113.{r.randint(2, 60)}"
            return [at(0, "security.login_success", user=r.choice(USERS), ip_address=ip)]
        ip, user, n = self._ip(), r.choice(("admin", "root", "alice")), r.randint(4, 12)
        steps = [
            at(i * 0.15, "security.login_failed", user=user, ip_address=ip, attempt_count=i + 1)
            for i in range(n)
        ]
        steps.append(at(n * 0.15, "security.unauthorized", ip_address=ip))
        if r.random() < 0.3:
            return [*steps, at(n * 0.15 + 1, "security.breach", ip_address=ip)]
        return [*steps, at(n * 0.15 + 0.5, "security.permission_denied", user=user)]

    def files(self) -> list[Step]:
        r, path = self.r, self.r.choice(PATHS)
        kind = r.random()
        if kind < 0.5:
            return [
                at(i * 0.05, "file.modified", path=path, size=r.randint(100, 90000))
                for i in range(r.randint(1, 6))
            ]
        if kind < 0.7:
            renamed = at(1, "file.renamed", old_path=path, new_path=path + ".1")
            return [at(0, "file.created", path=path), renamed]
        if kind < 0.85:
            return [at(0, "file.deleted", path=path)]
        rel = f"/srv/releases/{self._version()}"
        return [at(0, "dir.created", path=rel), at(2, "dir.deleted", path=rel + "-old")]

    def system(self) -> list[Step]:
        r = self.r
        pct = round(r.uniform(90, 99.9), 1)
        kind = r.choice(("cpu", "mem", "disk", "warn", "err", "res"))
        if kind == "cpu":
            step = at(0, "system.cpu_high", usage_percent=pct)
            if r.random() < 0.2:  # an old agent that forgets a field: a catalog warning
                step[2].pop("load_average", None)
            return [step]
        if kind == "mem":
            return [at(0, "system.memory_low", usage_percent=pct)]
        if kind == "disk":
            return [at(0, "system.disk_full", usage_percent=pct)]
        if kind == "res":
            return [at(0, "system.resource_high", current=pct)]
        return [at(0, "system.warning" if kind == "warn" else "system.error")]

    def data_plane(self) -> list[Step]:
        r, db = self.r, self.r.choice(DATABASES)
        kind = r.random()
        if kind < 0.5:
            return [at(0, "db.query_slow", database=db, duration=f"{r.uniform(1, 9):.2f}s")]
        if kind < 0.65:
            return [at(0, "db.error", database=db)]
        if kind < 0.8:
            return [at(0, "db.disconnected", database=db), at(2, "db.connected", database=db)]
        if kind < 0.9:
            return [at(0, "db.migration", database=db)]
        iface = r.choice(("eth0", "eth1", "wg0"))
        return [
            at(0, "network.latency_high", latency=f"{r.randint(210, 900)}ms"),
            at(0.5, "network.slow", interface=iface),
            at(1.5, "network.down", interface=iface),
            at(4.0, "network.up", interface=iface, downtime_duration="2.5s"),
        ]

    def ops(self) -> list[Step]:
        r = self.r
        kind = r.choice(("backup", "restore", "schedule", "state", "secret", "stack", "custom"))
        if kind in ("backup", "restore"):
            bid, bad = self._id("backup"), r.random() < (0.2 if kind == "backup" else 0.3)
            end = f"{kind}.failed" if bad else f"{kind}.completed"
            return [at(0, f"{kind}.started", backup_id=bid), at(3, end, backup_id=bid)]
        if kind == "schedule":
            verbs = ("triggered", "triggered", "missed", "created", "updated", "enabled")
            return [at(0, f"schedule.{r.choice((*verbs, 'disabled', 'deleted'))}")]
        if kind == "state":
            key = f"deploy/{r.choice(SERVICES)}/current_version"
            steps = [
                at(0, "state.locked", state_key=key),
                at(0.3, "state.updated", state_key=key),
                at(0.6, "state.unlocked", state_key=key),
            ]
            return [*steps, at(1, "state.corrupted")] if r.random() < 0.1 else steps
        if kind == "secret":
            verbs = ("accessed", "accessed", "rotation_needed", "expired", "created", "updated")
            t = f"secret.{r.choice((*verbs, 'deleted'))}"
            return [at(0, t, secret_name=r.choice(SECRETS))]
        if kind == "stack":
            verb = r.choice(("deployed", "updated", "drift_detected", "failed", "destroyed"))
            return [at(0, f"stack.{verb}", stack_name=r.choice(STACKS))]
        note = {"name": "demo_note", "message": "hello from the demo stream"}
        return [at(0, "custom", **note, payload={"n": next(self.ids)})]

    def burst(self) -> list[Step]:
        """Many events at once: a log rotation storm or a credential-stuffing wave."""
        r = self.r
        if r.random() < 0.5:
            return [
                at(i * 0.002, "file.modified", path=f"/var/log/app/part-{i}.log", size=i * 97)
                for i in range(r.randint(30, 80))
            ]
        ip, user = self._ip(), r.choice(USERS)
        return [
            at(i * 0.004, "security.login_failed", user=user, ip_address=ip, attempt_count=i + 1)
            for i in range(r.randint(20, 50))
        ]


class DemoGenerator:
    """Dispatches the stories at about `rate` events/s until stopped."""

    def __init__(self, engine: EngineAPI, rate: float = 20.0, *, seed: int | None = None) -> None:
        self.engine = engine
        self.rate = max(0.1, float(rate))
        self.rng = random.Random(seed)
        self.stories = Stories(self.rng)
        self.sent = 0
        self.refused = 0
        self._queue: list[tuple[float, int, str, dict[str, Any]]] = []  # heap of story steps
        self._bursts: list[tuple[float, int, str, dict[str, Any]]] = []  # heap, not rate-bound
        self._seq = itertools.count()
        self._task: asyncio.Task[None] | None = None
        s = self.stories
        self._weights: list[tuple[Callable[[], list[Step]], float]] = [
            (s.health, 5),
            (s.deploy, 3),
            (s.workflow, 2),
            (s.agent, 2),
            (s.security, 3),
            (s.files, 3),
            (s.system, 2),
            (s.data_plane, 2),
            (s.ops, 3),
        ]

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="demo-generator")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _schedule(self, steps: list[Step], now: float) -> None:
        for delay, type_name, data in steps:
            heapq.heappush(self._queue, (now + delay, next(self._seq), type_name, data))

    def _new_story(self, now: float) -> None:
        makers, weights = zip(*self._weights, strict=True)
        self._schedule(self.rng.choices(makers, weights)[0](), now)

    async def _run(self) -> None:
        """Poisson arrivals at `rate` for the stories; bursts go out as they fall due."""
        rng, next_at = self.rng, time.monotonic()
        last = next_at
        while True:
            now = time.monotonic()
            if rng.random() < BURST_CHANCE * (now - last):
                for delay, type_name, data in self.stories.burst():
                    heapq.heappush(self._bursts, (now + delay, next(self._seq), type_name, data))
            last = now
            while self._bursts and self._bursts[0][0] <= now:
                _due, _seq, type_name, data = heapq.heappop(self._bursts)
                await self._send(type_name, data)
            while next_at <= now:
                next_at += rng.expovariate(self.rate)
                if not self._queue or self._queue[0][0] > now:
                    self._new_story(now)
                _due, _seq, type_name, data = heapq.heappop(self._queue)
                await self._send(type_name, data)
            await asyncio.sleep(max(0.0, min(TICK, next_at - time.monotonic())))

    async def _send(self, type_name: str, data: dict[str, Any]) -> None:
        try:
            await self.engine.dispatch(type_name, data, source="demo")
            self.sent += 1
        except SlothError:
            self.refused += 1  # strict mode may refuse the odd malformed sample


DEMO_HOOKS: dict[str, tuple[list[str], str, str]] = {
    "deploy-alert": (
        ["deploy.failed"],
        "Log failed deploys; dispatch a rollback when needed",
        """\
function on_event()
  local d = event.data
  log.error("deploy " .. tostring(d.deploy_id) .. " of " .. tostring(d.service)
            .. " failed: " .. tostring(d.error))
  if d.rollback_needed then
    event.dispatch("deploy.rollback", {
      deploy_id = d.deploy_id, service = d.service,
      prev_version = "previous", reason = "automated_rollback_on_failure",
    })
  end
  return true
end
""",
    ),
    "security-counter": (
        ["security.*"],
        "Count security events by type (state.incr)",
        """\
return {
  execute = function(event)
    local n = state.incr("count:" .. event.type, 1)
    if event.type == "security.login_failed" and n % 10 == 0 then
      log.warn(n .. " failed logins so far; latest from " .. tostring(event.data.ip_address))
    end
    return true
  end,
}
""",
    ),
    "failure-triage": (
        ["*.failed"],
        "Triage failures (its backend is flaky: errors sometimes)",
        """\
function on_event()
  if math.random() < 0.3 then
    error("triage backend unavailable (demo: this hook fails 30% of the time)")
  end
  log.info("triaged " .. event.type)
  return true
end
""",
    ),
    "health-escalation": (
        ["health.check_failed"],
        "Escalate repeated health failures",
        """\
function on_event()
  local n = tonumber(event.data.consecutive_failures) or 0
  if n >= 3 then
    log.warn(event.data.service .. " failed " .. n .. " checks in a row")
    return false
  end
  return true
end
""",
    ),
}


async def install_demo_hooks(engine: EngineAPI, hooks_dir: Path) -> list[str]:
    """Write the sample Lua hooks into `hooks_dir` and register them; returns their names."""
    hooks_dir.mkdir(parents=True, exist_ok=True)
    names = []
    for name, (patterns, description, code) in DEMO_HOOKS.items():
        path = hooks_dir / f"{name.replace('-', '_')}.lua"
        path.write_text(code, encoding="utf-8")
        await engine.add_hook(name, patterns, path, description=description)
        names.append(name)
    return names


class DemoSource:
    """`sloth-tui demo`'s stream as a Source: the sample hooks, then the generator."""

    produces = (
        "deploy.*",
        "workflow.*",
        "task.*",
        "health.*",
        "agent.*",
        "security.*",
        "file.*",
        "dir.*",
        "system.*",
        "schedule.*",
    )  # synthetic: not counted as an install's

    def __init__(self, rate: float, hooks_dir: Path | None = None) -> None:
        self.rate = rate
        self.hooks_dir = hooks_dir
        self.name = "demo"
        self.generator: DemoGenerator | None = None
        self._status = Status(self.name, "demo")

    async def start(self, api: EngineAPI) -> None:
        try:
            if self.hooks_dir is not None:
                await install_demo_hooks(api, self.hooks_dir)
        except SlothError as exc:
            raise self._status.failed(exc) from None
        except OSError as exc:  # the hooks dir cannot be written
            error = SlothError(f"demo: cannot write its hooks in {self.hooks_dir}: {exc}")
            raise self._status.failed(error) from None
        self.generator = DemoGenerator(api, self.rate)
        self.generator.start()
        self._status.running()

    async def stop(self) -> None:
        if self.generator is not None:
            await self.generator.stop()
        self._status.stopped()

    def health(self) -> SourceHealth:
        g = self.generator
        sent, refused = (g.sent, g.refused) if g is not None else (0, 0)
        return self._status.health(f"{self.rate:g}/s, {sent} sent, {refused} refused")


def demo_sources(settings: Settings, options: SourceOptions) -> list[DemoSource]:
    """The registry's line for the demo: only when the caller asks for it."""
    if options.demo_rate is None:
        return []
    return [DemoSource(options.demo_rate, options.demo_hooks)]
