"""The log preset ssh-auth: sshd's lines as security.login_failed / login_success."""

from __future__ import annotations

from pathlib import Path

from watchkit import Api, Clock

from sloth_tui.engine.events import catalog_warnings
from sloth_tui.sources.watch_base import vet_regex
from sloth_tui.sources.watch_config import LogWatch
from sloth_tui.sources.watch_log import LogWatcher
from sloth_tui.sources.watch_sshauth import _SSHD, SshAuthMatcher

H = "Dec  2 01:02:03 web1 sshd[4242]: "


def one(matcher: SshAuthMatcher, line: str) -> tuple[str, dict[str, object]]:
    [(event_type, data)] = matcher.match(line, False)
    assert catalog_warnings(event_type, data) == []
    return event_type, data


def test_failed_password_counts_attempts_per_address() -> None:
    m = SshAuthMatcher("ssh")
    t, d = one(m, H + "Failed password for root from 203.0.113.5 port 52144 ssh2")
    assert t == "security.login_failed"
    assert (d["user"], d["ip_address"], d["reason"], d["attempt_count"], d["port"]) == (
        "root",
        "203.0.113.5",
        "bad password",
        1,
        52144,
    )
    _, d = one(m, H + "Failed password for invalid user bob from 203.0.113.5 port 52145 ssh2")
    assert (d["user"], d["reason"], d["attempt_count"]) == ("bob", "invalid user, bad password", 2)
    _, d = one(m, H + "Failed password for root from 198.51.100.1 port 1 ssh2")
    assert d["attempt_count"] == 1  # another address, its own count


def test_invalid_user_with_and_without_port() -> None:
    m = SshAuthMatcher("ssh")
    _, d = one(m, H + "Invalid user admin from 2001:db8::7 port 40000")
    assert (d["user"], d["ip_address"], d["reason"], d["port"]) == (
        "admin",
        "2001:db8::7",
        "invalid user",
        40000,
    )
    _, d = one(m, "2026-12-02T01:02:03.123456+00:00 web1 sshd[77]: Invalid user  from 10.1.1.1")
    assert (d["user"], d["ip_address"], d["port"]) == ("", "10.1.1.1", None)


def test_accepted_logins_reset_the_count() -> None:
    m = SshAuthMatcher("ssh")
    one(m, H + "Failed password for alice from 10.0.0.1 port 5 ssh2")
    t, d = one(m, H + "Accepted publickey for alice from 10.0.0.1 port 52146 ssh2: RSA SHA256:abc")
    assert t == "security.login_success"
    assert (d["user"], d["ip_address"], d["session_id"], d["method"]) == (
        "alice",
        "10.0.0.1",
        "4242",
        "publickey",
    )
    _, d = one(
        m,
        "Dec  2 01:02:04 web1 sshd-session[9]: Accepted password for bo from 10.0.0.2 port 6 ssh2",
    )
    assert (d["method"], d["session_id"]) == ("password", "9")
    _, d = one(m, H + "Failed password for alice from 10.0.0.1 port 7 ssh2")
    assert d["attempt_count"] == 1


def test_rsyslog_repeats_count_as_many_attempts() -> None:
    m = SshAuthMatcher("ssh")
    line = H + "message repeated 5 times: [ Failed password for root from 192.0.2.9 port 22 ssh2]"
    _, d = one(m, line)
    assert (d["user"], d["ip_address"], d["attempt_count"], d["repeated"]) == (
        "root",
        "192.0.2.9",
        5,
        5,
    )


def test_a_user_name_cannot_choose_the_address() -> None:
    m = SshAuthMatcher("ssh")
    for user in ["x from 10.9.9.9", "x from 10.9.9.9 port 1 ssh2", "x from 10.9.9.9 port 1 ssh2]"]:
        _, d = one(m, H + f"Invalid user {user} from 203.0.113.66 port 22")
        assert (d["ip_address"], d["port"], d["user"]) == ("203.0.113.66", 22, user)


def test_other_lines_and_cut_lines_are_not_logins() -> None:
    m = SshAuthMatcher("ssh")
    for line in [
        H + "Connection closed by 10.0.0.1 port 22 [preauth]",
        H + "pam_unix(sshd:session): session opened for user alice",
        "Dec  2 01:02:03 web1 sudo[1]: Failed password for root from 1.2.3.4 port 1 ssh2",
        "Dec  2 01:02:03 web1 nginx[5]: GET /sshd[1]: Accepted password for root from 1.2.3.4",
        "Failed password for root from 1.2.3.4 port 1 ssh2",
        "",
    ]:
        assert m.match(line, False) == []
    assert m.match(H + "Failed password for root from 1.2.3.4 port 1 ssh2", True) == []


def test_the_preset_pattern_passes_the_same_vetting_as_a_users() -> None:
    vet_regex(_SSHD.pattern)


async def test_the_preset_on_a_real_file(tmp_path: Path) -> None:
    auth = tmp_path / "auth.log"
    auth.write_text("")
    clock, api = Clock(), Api()
    w = LogWatcher(LogWatch("ssh", path=str(auth), preset="ssh-auth"), sleep=clock.sleep)
    await w.start(api)  # type: ignore[arg-type]
    try:
        await clock.settled()
        with open(auth, "a") as f:
            f.write(H + "Failed password for root from 203.0.113.5 port 1 ssh2\n")
            f.write(H + "Accepted password for root from 203.0.113.5 port 2 ssh2\n")
        await clock.step()
        assert api.types() == ["security.login_failed", "security.login_success"]
        assert "sshd's logins (ssh-auth)" in w.health().detail
    finally:
        await w.stop()
