"""The limits of what a facilitator and a phone may enter, defined once: forms, services, models and
docs/architecture.md ("Limits") read them from here."""

TIMER_MIN_SECONDS = 15
TIMER_MAX_SECONDS = 60 * 60
TIMER_STEP_SECONDS = 15  # the form counts in quarter minutes
TITLE_MAX_CHARS = 120
GROUP_NAME_MAX_CHARS = 60
MAX_GROUPS = 30
NOTE_MAX_CHARS = 4000
CAP_MAX = 100_000
