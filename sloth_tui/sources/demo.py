"""A synthetic but plausible event stream for `sloth-tui demo` (and for screenshots).

Events come from little stories that unfold over time (a deploy starts and, seconds
later, completes or fails; a workflow runs its tasks; an attacker hammers a login)
across every catalog category, at a steady `rate` with occasional bursts. Everything
goes through `Engine.dispatch(..., source="demo")`; the sample hooks from
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
from typing import Any

from sloth_tui import catalog
from sloth_tui.engine.engine import Engine
from sloth_tui.engine.errors import SlothError

SERVICES = ("api-server", "billing", "auth", "search", "web-frontend", "payments", "notifier")
AGENTS = ("agent-web-01", "agent-web-02", "agent-db-02", "agent-build-03", "agent-eu-04")
USERS = ("alice", "bob", "carol", "dave", "deploy-bot")
TASKS = ("checkout", "build_image", "run_tests", "push_image", "migrate_db", "smoke_test")
DATABASES = ("orders", "users", "inventory", "analytics")
STACKS = ("prod-network", "prod-eks", "staging-preview-42", "edge-cdn")
SECRETS = ("db-password", "aws-access-key", "tls-cert-api", "stripe-key", "github-token")
PATHS = ("/srv/app/config.yaml", "/var/log/app/app.log", "/etc/nginx/nginx.conf", "/srv/data/export.csv")
TICK = 0.05  # seconds between pacing steps
BURST_CHANCE = 0.04  # per second

Step = tuple[float, str, dict[str, Any]]  # (delay from story start, type, data overrides)


def make(type_name: str, **fields: Any) -> dict[str, Any]:
    """Catalog sample data for the type, with `fields` (dotted names nest) replacing samples."""
    data = catalog.sample_data(type_name)
    for name, value in fields.items():
        *parents, leaf = name.split("__")
        node = data
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return data


class Stories:
    """Each method returns the timed steps of one small incident or routine."""

    def __init__(self, rng: random.Random) -> None:
        self.r = rng
        self.ids = itertools.count(1000)

    def _id(self, prefix: str) -> str:
        return f"{prefix}-{next(self.ids)}"

    def _ip(self) -> str:
        return f"198.51.100.{self.r.randint(2, 254)}"

    def deploy(self) -> list[Step]:
        r, svc, dep = self.r, self.r.choice(SERVICES), self._id("deploy")
        version = f"v2.{r.randint(0, 9)}.{r.randint(0, 20)}"
        start = make("deploy.started", deploy_id=dep, service=svc, version=version,
                     environment=r.choice(("production", "staging")))  # fmt: skip
        steps: list[Step] = [(0, "deploy.started", start)]
        took = r.uniform(1.5, 5)
        if r.random() < 0.25:
            error = r.choice(("health check timed out after 30s", "image pull backoff", "OOMKilled"))
            steps.append((took, "deploy.failed", make("deploy.failed", deploy_id=dep, service=svc,
                          error=error, rollback_needed=r.random() < 0.7)))  # fmt: skip
        else:
            steps.append((took, "deploy.completed", make("deploy.completed", deploy_id=dep,
                          service=svc, version=version, duration=f"{r.randint(1, 9)}m{r.randint(0, 59)}s")))  # fmt: skip
            steps.append((took + 0.5, "health.check_passed", make("health.check_passed", service=svc)))
        return steps

    def workflow(self) -> list[Step]:
        r, wf = self.r, self._id("wf")
        name = r.choice(("release-pipeline", "nightly-etl", "backup-databases", "cert-renewal"))
        tasks = r.sample(TASKS, r.randint(2, 4))
        steps: list[Step] = [(0, "workflow.started", make("workflow.started", workflow_name=name,
                              workflow_id=wf, task_count=len(tasks)))]  # fmt: skip
        t, failed = 0.3, []
        for task in tasks:
            agent = r.choice(AGENTS)
            steps.append((t, "task.started", make("task.started", task_name=task, agent_name=agent)))
            t += r.uniform(0.3, 1.5)
            roll = r.random()
            if roll < 0.1:
                steps.append((t, "task.failed", make("task.failed", task_name=task, agent_name=agent)))
                failed.append(task)
            elif roll < 0.15:
                steps.append((t, "task.retrying", make("task.retrying", task_name=task, attempt=2)))
            elif roll < 0.18:
                steps.append((t, "task.timeout", make("task.timeout", task_name=task, agent_name=agent)))
                failed.append(task)
            else:
                steps.append((t, "task.completed", make("task.completed", task_name=task,
                              agent_name=agent, duration=f"{r.randint(2, 90)}s")))  # fmt: skip
        if failed:
            steps.append((t + 0.2, "workflow.failed", make("workflow.failed", workflow_name=name,
                          failed_tasks=failed, error=f"{len(failed)} of {len(tasks)} tasks failed")))  # fmt: skip
        else:
            steps.append((t + 0.2, "workflow.completed", make("workflow.completed",
                          workflow_name=name, workflow_id=wf, duration=f"{int(t)}s")))  # fmt: skip
        return steps

    def health(self) -> list[Step]:
        r, svc = self.r, self.r.choice(SERVICES)
        if r.random() < 0.8:
            return [(0, "health.check_passed", make("health.check_passed", service=svc,
                     response_time=f"{r.randint(5, 120)}ms"))]  # fmt: skip
        steps: list[Step] = [
            (i * 0.7, "health.check_failed", make("health.check_failed", service=svc, consecutive_failures=i + 1))
            for i in range(r.randint(1, 4))
        ]
        steps.append((3.5, "health.degraded", make("health.degraded", service=svc)))
        steps.append((6.0, "health.recovered", make("health.recovered", service=svc, downtime_duration="6s")))
        return steps

    def agent(self) -> list[Step]:
        r, name = self.r, self.r.choice(AGENTS)
        kind = r.choice(("heartbeat", "resource", "update", "mismatch", "register"))
        if kind == "heartbeat":
            return [
                (0, "agent.heartbeat_failed", make("agent.heartbeat_failed", agent__name=name)),
                (1.5, "agent.disconnected", make("agent.disconnected", agent__name=name)),
                (4.0, "agent.connected", make("agent.connected", agent__name=name)),
            ]
        if kind == "resource":
            return [(0, "agent.resource_high", make("agent.resource_high", agent__name=name,
                     resource=r.choice(("cpu", "memory")), current=round(r.uniform(86, 99), 1)))]  # fmt: skip
        if kind == "update":
            return [(0, "agent.updated", make("agent.updated", agent__name=name))]
        if kind == "mismatch":
            return [(0, "agent.version_mismatch", make("agent.version_mismatch", agent__name=name))]
        return [(0, "agent.registered", make("agent.registered", agent__name=name)),
                (0.4, "agent.connected", make("agent.connected", agent__name=name))]  # fmt: skip

    def security(self) -> list[Step]:
        r = self.r
        if r.random() < 0.75:
            return [(0, "security.login_success", make("security.login_success",
                     user=r.choice(USERS), ip_address=f"203.0.113.{r.randint(2, 60)}"))]  # fmt: skip
        ip, user = self._ip(), r.choice(("admin", "root", "alice"))
        attempts = r.randint(4, 12)
        steps: list[Step] = [
            (i * 0.15, "security.login_failed", make("security.login_failed", user=user,
             ip_address=ip, attempt_count=i + 1))  # fmt: skip
            for i in range(attempts)
        ]
        steps.append((attempts * 0.15, "security.unauthorized", make("security.unauthorized", ip_address=ip)))
        if r.random() < 0.3:
            steps.append((attempts * 0.15 + 1, "security.breach", make("security.breach", ip_address=ip)))
        else:
            steps.append((attempts * 0.15 + 0.5, "security.permission_denied",
                          make("security.permission_denied", user=user)))  # fmt: skip
        return steps

    def files(self) -> list[Step]:
        r, path = self.r, self.r.choice(PATHS)
        kind = r.random()
        if kind < 0.5:
            return [(i * 0.05, "file.modified", make("file.modified", path=path, size=r.randint(100, 90000)))
                    for i in range(r.randint(1, 6))]  # fmt: skip
        if kind < 0.7:
            return [(0, "file.created", make("file.created", path=path)),
                    (1, "file.renamed", make("file.renamed", old_path=path, new_path=path + ".1"))]  # fmt: skip
        if kind < 0.85:
            return [(0, "file.deleted", make("file.deleted", path=path))]
        rel = f"/srv/releases/v2.{r.randint(0, 9)}.{r.randint(0, 20)}"
        return [(0, "dir.created", make("dir.created", path=rel)),
                (2, "dir.deleted", make("dir.deleted", path=rel + "-old"))]  # fmt: skip

    def system(self) -> list[Step]:
        r = self.r
        kind = r.choice(("cpu", "mem", "disk", "warn", "err", "res"))
        if kind == "cpu":
            data = make("system.cpu_high", usage_percent=round(r.uniform(90, 100), 1))
            if r.random() < 0.2:  # an old agent that forgets a field: shows a catalog warning
                data.pop("load_average", None)
            return [(0, "system.cpu_high", data)]
        if kind == "mem":
            return [(0, "system.memory_low", make("system.memory_low", usage_percent=round(r.uniform(90, 99), 1)))]
        if kind == "disk":
            return [(0, "system.disk_full", make("system.disk_full", usage_percent=round(r.uniform(95, 99.9), 1)))]
        if kind == "warn":
            return [(0, "system.warning", make("system.warning"))]
        if kind == "err":
            return [(0, "system.error", make("system.error"))]
        return [(0, "system.resource_high", make("system.resource_high", current=round(r.uniform(86, 99), 1)))]

    def data_plane(self) -> list[Step]:
        r, db = self.r, self.r.choice(DATABASES)
        kind = r.random()
        if kind < 0.5:
            return [(0, "db.query_slow", make("db.query_slow", database=db, duration=f"{r.uniform(1, 9):.2f}s"))]
        if kind < 0.65:
            return [(0, "db.error", make("db.error", database=db))]
        if kind < 0.8:
            return [(0, "db.disconnected", make("db.disconnected", database=db)),
                    (2, "db.connected", make("db.connected", database=db))]  # fmt: skip
        if kind < 0.9:
            return [(0, "db.migration", make("db.migration", database=db))]
        iface = r.choice(("eth0", "eth1", "wg0"))
        return [(0, "network.latency_high", make("network.latency_high", latency=f"{r.randint(210, 900)}ms")),
                (0.5, "network.slow", make("network.slow", interface=iface)),
                (1.5, "network.down", make("network.down", interface=iface)),
                (4.0, "network.up", make("network.up", interface=iface, downtime_duration="2.5s"))]  # fmt: skip

    def ops(self) -> list[Step]:
        r = self.r
        kind = r.choice(("backup", "restore", "schedule", "state", "secret", "stack", "custom"))
        if kind == "backup":
            bid = self._id("backup")
            end = ("backup.failed", make("backup.failed", backup_id=bid)) if r.random() < 0.2 else (
                "backup.completed", make("backup.completed", backup_id=bid))
            return [(0, "backup.started", make("backup.started", backup_id=bid)), (3, *end)]
        if kind == "restore":
            bid = self._id("backup")
            end = ("restore.failed", make("restore.failed", backup_id=bid)) if r.random() < 0.3 else (
                "restore.completed", make("restore.completed", backup_id=bid))
            return [(0, "restore.started", make("restore.started", backup_id=bid)), (4, *end)]
        if kind == "schedule":
            t = r.choice(("schedule.triggered", "schedule.triggered", "schedule.missed", "schedule.created",
                          "schedule.updated", "schedule.enabled", "schedule.disabled", "schedule.deleted"))
            return [(0, t, make(t))]
        if kind == "state":
            key = f"deploy/{r.choice(SERVICES)}/current_version"
            return [(0, "state.locked", make("state.locked", state_key=key)),
                    (0.3, "state.updated", make("state.updated", state_key=key)),
                    (0.6, "state.unlocked", make("state.unlocked", state_key=key))] + (
                    [(1, "state.corrupted", make("state.corrupted"))] if r.random() < 0.1 else [])  # fmt: skip
        if kind == "secret":
            t = r.choice(("secret.accessed", "secret.accessed", "secret.rotation_needed", "secret.expired",
                          "secret.created", "secret.updated", "secret.deleted"))
            return [(0, t, make(t, secret_name=r.choice(SECRETS)))]
        if kind == "stack":
            t = r.choice(("stack.deployed", "stack.updated", "stack.drift_detected", "stack.failed",
                          "stack.destroyed"))
            return [(0, t, make(t, stack_name=r.choice(STACKS)))]
        return [(0, "custom", make("custom", name="demo_note", message="hello from the demo stream",
                 payload={"n": next(self.ids)}))]  # fmt: skip

    def burst(self) -> list[Step]:
        """Many events at once: a log rotation storm or a credential-stuffing wave."""
        r = self.r
        if r.random() < 0.5:
            return [(i * 0.002, "file.modified", make("file.modified", path=f"/var/log/app/part-{i}.log",
                     size=r.randint(1, 9999))) for i in range(r.randint(30, 80))]  # fmt: skip
        ip = self._ip()
        return [(i * 0.004, "security.login_failed", make("security.login_failed", user=r.choice(USERS),
                 ip_address=ip, attempt_count=i + 1)) for i in range(r.randint(20, 50))]  # fmt: skip


class DemoGenerator:
    """Dispatches the stories at about `rate` events/s until stopped."""

    def __init__(self, engine: Engine, rate: float = 20.0, *, seed: int | None = None) -> None:
        self.engine = engine
        self.rate = max(0.1, float(rate))
        self.rng = random.Random(seed)
        self.stories = Stories(self.rng)
        self.sent = 0
        self.refused = 0
        self._queue: list[tuple[float, int, str, dict[str, Any]]] = []  # heap of due steps
        self._seq = itertools.count()
        self._task: asyncio.Task[None] | None = None
        s = self.stories
        self._weights: list[tuple[Callable[[], list[Step]], float]] = [
            (s.health, 5), (s.deploy, 3), (s.workflow, 2), (s.agent, 2), (s.security, 3),
            (s.files, 3), (s.system, 2), (s.data_plane, 2), (s.ops, 3),
        ]  # fmt: skip

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
        budget, last = 0.0, time.monotonic()
        while True:
            await asyncio.sleep(TICK)
            now = time.monotonic()
            budget = min(budget + (now - last) * self.rate, self.rate * 2)
            if self.rng.random() < BURST_CHANCE * (now - last):
                self._schedule(self.stories.burst(), now)
                budget += 40  # bursts come on top of the steady rate
            last = now
            while budget >= 1:
                if not self._queue or self._queue[0][0] > now:
                    self._new_story(now)
                    if self._queue[0][0] > now:
                        continue
                _due, _seq, type_name, data = heapq.heappop(self._queue)
                budget -= 1
                await self._send(type_name, data)

    async def _send(self, type_name: str, data: dict[str, Any]) -> None:
        try:
            await self.engine.dispatch(type_name, data, source="demo")
            self.sent += 1
        except SlothError:
            self.refused += 1  # strict mode may refuse the odd malformed sample


DEMO_HOOKS: dict[str, tuple[list[str], str, str]] = {
    "deploy-alert": (["deploy.failed"], "Log failed deploys; dispatch a rollback when needed", """\
function on_event()
  local d = event.data
  log.error("deploy " .. tostring(d.deploy_id) .. " of " .. tostring(d.service) .. " failed: " .. tostring(d.error))
  if d.rollback_needed then
    event.dispatch("deploy.rollback", {
      deploy_id = d.deploy_id, service = d.service,
      prev_version = "previous", reason = "automated_rollback_on_failure",
    })
  end
  return true
end
"""),
    "security-counter": (["security.*"], "Count security events by type (state.incr)", """\
return {
  execute = function(event)
    local n = state.incr("count:" .. event.type, 1)
    if event.type == "security.login_failed" and n % 10 == 0 then
      log.warn(n .. " failed logins so far; latest from " .. tostring(event.data.ip_address))
    end
    return true
  end,
}
"""),
    "failure-triage": (["*.failed"], "Triage failures (its backend is flaky: errors sometimes)", """\
function on_event()
  if math.random() < 0.3 then
    error("triage backend unavailable (demo: this hook fails 30% of the time)")
  end
  log.info("triaged " .. event.type)
  return true
end
"""),
    "health-escalation": (["health.check_failed"], "Escalate repeated health failures", """\
function on_event()
  local n = tonumber(event.data.consecutive_failures) or 0
  if n >= 3 then
    log.warn(event.data.service .. " failed " .. n .. " checks in a row")
    return false
  end
  return true
end
"""),
}


async def install_demo_hooks(engine: Engine, hooks_dir: Path) -> list[str]:
    """Write the sample Lua hooks into `hooks_dir` and register them; returns their names."""
    hooks_dir.mkdir(parents=True, exist_ok=True)
    names = []
    for name, (patterns, description, code) in DEMO_HOOKS.items():
        path = hooks_dir / f"{name.replace('-', '_')}.lua"
        path.write_text(code, encoding="utf-8")
        await engine.add_hook(name, patterns, path, description=description)
        names.append(name)
    return names
