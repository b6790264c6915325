"""Traffic of an LLM customer-service assistant: two versions, delayed feedback, injectable drift.

Pure and seeded: time is passed in, so the same calls give the same events.

>>> sim = TrafficSimulator(seed=1)
>>> batch = sim.inferences(now=1767225600.0, n=3)
>>> sorted(batch[0]["features"])
['channel', 'intent', 'language', 'prompt_chars', 'retrieved_docs']
"""

from __future__ import annotations

import heapq
import itertools
from typing import Any

import numpy as np

from monitor.contract.events import FeedbackEvent, InferenceEvent
from monitor.contract.fields import to_json_event

__all__ = ["SHADOW_VERSION", "TrafficSimulator"]

LANGUAGES = ("en", "es", "de", "fr")
CHANNELS = ("web", "app", "email", "voice")
INTENTS = ("billing", "shipping", "returns", "account", "tech_support")
TEMPLATES = {
    "billing": "Why was I charged twice for order {n}?",
    "shipping": "Where is my package {n}? It was due yesterday.",
    "returns": "How do I return the item from order {n}",
    "account": "I cannot log in to my account, reset password please",
    "tech_support": "The app crashes when I open settings on version {n}?",
    "cancellation": "Cancel my subscription now, order {n}!!",
}
REPLIES = {
    "billing": "I see two charges; the duplicate is refunded within 3 days.",
    "shipping": "Your package is at the local depot and arrives tomorrow.",
    "returns": "Here is your return label; drop the parcel at any post office.",
    "account": "I sent a password reset link to your email address.",
    "tech_support": "Please update the app; version 5.2 fixes the settings crash.",
    "cancellation": "Your subscription is cancelled at the end of the period.",
}
DRIFT_TEXT = "注文{n}の配送状況を教えてください。急いでいます"


SHADOW_VERSION = "v3"  # the shadow candidate's version


class TrafficSimulator:
    """Inference events now, feedback events when they fall due.

    ``drifted`` switches ``drift_version`` to longer prompts, new languages and intents, and worse
    outcomes (lower ratings, fewer completed tasks, more human takeovers).
    """

    def __init__(
        self,
        seed: int = 7,
        model: str = "support-assistant",
        versions: tuple[str, ...] = ("v1", "v2"),
        drift_version: str = "v2",
        feedback_share: float = 0.7,
        max_feedback_delay: float = 15.0,
        id_prefix: str = "req",
    ) -> None:
        self.rng = np.random.default_rng(seed)
        self._more = np.random.default_rng(
            [seed, 1]
        )  # score, conversation, turn: rng's stream stays as it was
        self._shadow = np.random.default_rng([seed, 2])  # the shadow candidate's own draws
        self.model = model
        self.versions = versions
        self.drift_version = drift_version
        self.feedback_share = feedback_share
        self.max_feedback_delay = max_feedback_delay
        self.drifted = False
        self._ids = itertools.count()
        self.id_prefix = id_prefix  # request ids are "<id_prefix>-<n>"
        self._pending: list[tuple[float, int, dict[str, Any]]] = []  # (due, seq, event)
        self._seq = itertools.count()

    def _features(self, drifted: bool) -> dict[str, Any]:
        rng = self.rng
        prompt_chars = float(rng.lognormal(4.6 + (0.8 if drifted else 0.0), 0.5))
        if drifted and rng.random() < 0.5:
            language = str(rng.choice(("ja", "pt")))
        else:
            language = str(rng.choice(LANGUAGES, p=(0.6, 0.2, 0.1, 0.1)))
        intent = "cancellation" if drifted and rng.random() < 0.4 else str(rng.choice(INTENTS))
        return {
            "prompt_chars": round(prompt_chars, 1),
            "language": language,
            "channel": str(rng.choice(CHANNELS, p=(0.5, 0.3, 0.15, 0.05))),
            "intent": intent,
            "retrieved_docs": int(rng.poisson(3)),
        }

    def _feedback(self, request_id: str, version: str, at: float, degraded: bool) -> dict[str, Any]:
        rng = self.rng
        good = rng.random() > (0.45 if degraded else 0.12)
        event: dict[str, Any] = {
            "request_id": request_id,
            "timestamp": at,
            "model": self.model,
            "model_version": version,
        }  # field names are checked by to_json_event
        if rng.random() < 0.8:
            event["rating"] = int(rng.integers(4, 6) if good else rng.integers(1, 4))
        else:
            event["thumbs"] = "up" if good else "down"
        event["task_completed"] = bool(good or rng.random() < 0.2)
        event["human_takeover"] = bool(rng.random() < (0.3 if degraded else 0.05))
        event["bad_case"] = bool(not good and rng.random() < 0.5)
        event["turns"] = int(rng.integers(1, 4) + (0 if good else rng.integers(1, 5)))
        event["judge_score"] = round(
            float(np.clip(rng.normal(8.0 if good else 4.0, 1.2), 0, 10)), 2
        )
        event["label"] = "resolved" if good else "unresolved"
        event["kpi"] = {
            "resolved_value": 10.0 if event["task_completed"] else 0.0
        }  # no extra draw: seeds keep
        return to_json_event(FeedbackEvent, event)

    def inferences(self, now: float, n: int) -> list[dict[str, Any]]:
        """``n`` inference events stamped ``now``; their feedback is scheduled for later."""
        events = []
        for _ in range(n):
            version = self.versions[int(self.rng.integers(len(self.versions)))]
            degraded = self.drifted and version == self.drift_version
            request_id = f"{self.id_prefix}-{next(self._ids)}"
            features = self._features(degraded)
            n_text = int(self.rng.integers(100, 999))
            text = (
                DRIFT_TEXT.format(n=n_text)
                if degraded and features["language"] == "ja"
                else TEMPLATES[features["intent"]].format(n=n_text)
            )
            latency = float(self.rng.lognormal(6.3 + (0.3 if degraded else 0.0), 0.35))
            events.append(
                to_json_event(
                    InferenceEvent,
                    {
                        "request_id": request_id,
                        "timestamp": round(now, 3),
                        "model": self.model,
                        "model_version": version,
                        "deployment": "canary" if version == self.versions[-1] else "production",
                        "features": features,
                        "input_text": text,
                        "output_text": REPLIES[features["intent"]],
                        "prediction": "resolved",
                        "score": round(float(self._more.beta(8, 2)), 3),
                        "latency_ms": round(latency, 1),
                        "input_tokens": int(features["prompt_chars"] / 4),
                        "output_tokens": int(self.rng.integers(20, 300)),
                        "conversation_id": f"conv-{int(self._more.integers(10_000))}",
                        "turn": int(self._more.integers(1, 6)),
                        "segment": {
                            "channel": features["channel"],
                            "region": str(self.rng.choice(("eu", "us", "apac"))),
                        },
                        # every version is an arm of one experiment (assignment is the version draw above)
                        "experiment": f"{self.model}-versions",
                        "variant": version,
                    },
                )
            )
            if self.rng.random() < self.feedback_share:
                delay = float(self.rng.uniform(1.0, self.max_feedback_delay))
                feedback = self._feedback(request_id, version, round(now + delay, 3), degraded)
                heapq.heappush(self._pending, (now + delay, next(self._seq), feedback))
        return events

    def shadow_answers(
        self,
        events: list[dict[str, Any]],
        version: str = SHADOW_VERSION,
        share: float = 0.5,
        agreement: float = 0.92,
    ) -> list[dict[str, Any]]:
        """A shadow candidate mirroring ``share`` of the production answers among ``events``.

        Same ``request_id``, ``deployment: shadow``, its own version; it gives production's reply and
        prediction with probability ``agreement`` (else different ones), about 10 % faster, failing 0.2 %
        of the time.
        """
        rng, out = self._shadow, []
        for e in events:
            if e.get("deployment") != "production" or rng.random() >= share:
                continue
            same = rng.random() < agreement
            failed = rng.random() < 0.002
            reply = (
                e["output_text"]
                if same
                else "Let me check that for you and come back to you shortly."
            )
            out.append(
                to_json_event(
                    InferenceEvent,
                    {
                        "request_id": e["request_id"],
                        "timestamp": round(e["timestamp"] + 0.05, 3),
                        "model": e["model"],
                        "model_version": version,
                        "deployment": "shadow",
                        "features": e["features"],
                        **(
                            {"error": "timeout"}
                            if failed
                            else {
                                "output_text": reply,
                                "prediction": e["prediction"] if same else "escalated",
                            }
                        ),
                        "latency_ms": round(e["latency_ms"] * float(rng.uniform(0.8, 1.0)), 1),
                        "output_tokens": max(
                            int(e["usage"]["output_tokens"] + rng.integers(-20, 20)), 0
                        ),
                    },
                )
            )
        return out

    def due_feedback(self, now: float) -> list[dict[str, Any]]:
        """Feedback events whose time has come, in time order."""
        due = []
        while self._pending and self._pending[0][0] <= now:
            due.append(heapq.heappop(self._pending)[2])
        return due

    @property
    def pending_feedback(self) -> int:
        return len(self._pending)
