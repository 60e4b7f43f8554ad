"""Shared test settings: no model hub, and a hypothesis profile sized so the property tests
stay quick on 2 cores.

``HYPOTHESIS_PROFILE=thorough pytest`` runs ten times as many examples.
"""

from __future__ import annotations

import os

# Before anything imports huggingface_hub, which reads these once: tests never reach a hub.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"

from hypothesis import HealthCheck, settings

settings.register_profile(
    "quick", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "thorough", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "quick"))
