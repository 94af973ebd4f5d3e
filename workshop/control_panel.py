"""The control panel's controls as the server decides them: which step is next, which sliders are open,
what the timer is doing. Rendered by the page, by every htmx control's answer, and by the dashboard
socket when the session changes (a timer that ran out, a change from another tab), from this one context.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from workshop import guard, limits, workflow
from workshop.forms import CapForm, GroupForm, TimerForm
from workshop.models import Session

CONTROLS = "workshop/dashboard.html#controls"


def controls_context(session: Session, *, join_url: str, error: str = "") -> dict[str, Any]:
    sliders = list(session.exercise.sliders.order_by("order", "pk"))
    keys = tuple(s.key for s in sliders)
    now = timezone.now()
    state = session.workflow_state(keys)
    flow = workflow.flow(state, now)
    notes = {(n.slider_id, n.round): n.text for n in session.notes.all()}
    groups = list(session.groups.order_by("order", "pk"))
    labels = {s.key: s.label for s in sliders}
    return {
        "session": session,
        "flow": flow,
        "open_slider_label": labels.get(flow.open_slider or ""),
        "open_slider_number": keys.index(flow.open_slider) + 1 if flow.open_slider in keys else None,
        "timer_status": workflow.timer_status(state, now),
        "control_sliders": [
            {
                "slider": s,
                "open": s.key in flow.open,
                "opened": s.key in session.open_sliders and session.status == Session.Status.POSITIONING,
                "shown": s.key in session.shown_sliders,
                "notes": [(r, notes.get((s.pk, r), "")) for r in range(1, session.round + 1)],
            }
            for s in sliders
        ],
        "control_groups": [
            {"group": g, "join_url": guard.with_proof(f"{join_url}?g={g.pk}", session.code)} for g in groups
        ],
        "timer_form": TimerForm(initial={"minutes": 2, "lock": True}),
        "timer_remaining_ms": session.timer_remaining_ms(now),
        "cap_form": CapForm(initial={"cap": session.max_participants}),
        "group_form": GroupForm(),
        "limits": limits,
        "error": error,
    }
