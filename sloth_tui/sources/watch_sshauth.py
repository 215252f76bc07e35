"""The log preset `ssh-auth`: sshd's lines in the auth log as catalog events.

    Failed password for [invalid user] USER from IP port N ssh2  -> security.login_failed
    Invalid user USER from IP [port N]                           -> security.login_failed
    Accepted password|publickey|... for USER from IP port N ssh2 -> security.login_success

with the catalog's fields: login_failed has user, ip_address, reason ("bad password",
"invalid user", "invalid user, bad password") and attempt_count (failures from that
address since its last success, as this watcher saw them, rsyslog's "message repeated
N times" counted N times); login_success has user, ip_address and session_id (sshd's
process id for the connection: `sshd[PID]`). Each also has port, watcher_id and line.

The user name is the attacker's text: it is everything between "for"/"user" and the
last " from ADDRESS port N", so a name such as "x from 10.0.0.1" cannot set the address;
and only sshd's own tag right after the syslog header counts, so another program's line
that quotes sshd's words is no login.
"""

from __future__ import annotations

import re
from collections import OrderedDict

from sloth_tui.sources.watch_base import Found

# The syslog header (a few words: the time and the host) and sshd's tag, an optional
# rsyslog repeat, the message. Only words before the tag, so another program's line
# quoting "sshd[1]: Accepted ..." is not a login; the user is greedy (the last " from ").
_SSHD = re.compile(
    r"^(?:\S+ +){1,5}sshd(?:-session)?\[(?P<pid>\d{1,10})\]: "
    r"(?:message repeated (?P<times>\d{1,9}) times: \[ )?"
    r"(?P<what>Failed password for invalid user|Failed password for|Invalid user"
    r"|Accepted (?P<method>[a-z/-]+) for) "
    r"(?P<user>.*) from (?P<ip>\S+)(?: port (?P<port>\d{1,5}))?(?: ssh2\b.*)?\]?$"
)
_REASONS = {
    "Failed password for": "bad password",
    "Failed password for invalid user": "invalid user, bad password",
    "Invalid user": "invalid user",
}
MAX_ADDRESSES = 10_000  # addresses whose failures are counted; the oldest go first


class SshAuthMatcher:
    def __init__(self, watcher: str) -> None:
        self.watcher = watcher
        self.failures: OrderedDict[str, int] = OrderedDict()

    def match(self, line: str, cut: bool) -> Found:
        if cut:
            return []  # a line cut short lost its " from ADDRESS": not to be trusted
        m = _SSHD.match(line)
        if m is None:
            return []
        ip, user, what = m["ip"], m["user"], m["what"]
        port = int(m["port"]) if m["port"] else None
        common = {"user": user, "ip_address": ip, "port": port, "watcher_id": self.watcher}
        if m["method"] is not None:
            self.failures.pop(ip, None)
            data = dict(common, session_id=m["pid"], method=m["method"], line=line)
            return [("security.login_success", data)]
        times = int(m["times"]) if m["times"] else 1
        count = self.failures.pop(ip, 0) + times
        self.failures[ip] = count
        if len(self.failures) > MAX_ADDRESSES:
            self.failures.popitem(last=False)
        data = dict(common, reason=_REASONS[what], attempt_count=count, line=line)
        if times > 1:
            data["repeated"] = times
        return [("security.login_failed", data)]
