"""What every stand-in in the sandbox keeps beside its own state: failures to inject and the log of requests received.

A world class mixes in `Recorder` and names its own rule and record dataclasses and failure kinds; it must have a
`lock`, an `_ids` counter, and `failures` and `requests` lists (set in its reset).
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict
from typing import Any, ClassVar


class Recorder:
    FAILURE_KINDS: ClassVar[tuple[str, ...]]
    FailureRule: ClassVar[type]
    RequestRecord: ClassVar[type]

    def add_failure(self, kind: str, **options: Any):
        """A failure rule for requests matching its method and path; `percent` alone means until removed."""
        if kind not in self.FAILURE_KINDS:
            raise ValueError(f"unknown failure kind {kind!r}; one of {', '.join(self.FAILURE_KINDS)}")
        with self.lock:
            rule = self.FailureRule(id=next(self._ids), kind=kind, **options)
            if getattr(rule, "percent", None) is not None and "count" not in options:
                rule.count = None
            self.failures.append(rule)
            return rule

    def take_failure(self, method: str, path: str):
        """The failure to inject into this request, if a rule matches (counting it down)."""
        with self.lock:
            for rule in list(self.failures):
                if not rule.matches(method, path):
                    continue
                if getattr(rule, "skip", 0) > 0:
                    rule.skip -= 1
                    continue
                percent = getattr(rule, "percent", None)
                if percent is not None and random.random() * 100 >= percent:
                    continue
                if rule.count is not None:
                    rule.count -= 1
                    if rule.count <= 0:
                        self.failures.remove(rule)
                return rule
            return None

    def record_request(self, **fields: Any):
        """Log one request received (the control API's /requests shows the log)."""
        with self.lock:
            record = self.RequestRecord(id=next(self._ids), at=time.time(), **fields)
            self.requests.append(record)
            return record

    def request_log(self, path: str | None = None, method: str | None = None) -> list[dict[str, Any]]:
        """The requests received, oldest first, filtered by a path substring and a method."""
        with self.lock:
            return [
                asdict(r)
                for r in self.requests
                if (path is None or path in r.path) and (method is None or r.method == method.upper())
            ]


def control_spec() -> dict[str, Any]:
    """A control-API call's arguments: its JSON object, or its form fields (the simulator pages post forms)."""
    from flask import request

    data = request.get_json(silent=True)
    if data is None:
        data = request.form.to_dict()
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data


def answer_bad_requests(bp) -> None:
    """A control blueprint answers a refused simulation or a bad argument with 400 and the reason, never 500."""
    from flask import jsonify

    @bp.errorhandler(ValueError)
    @bp.errorhandler(TypeError)
    def _bad_request(exc: Exception):
        return jsonify(error=str(exc)), 400
