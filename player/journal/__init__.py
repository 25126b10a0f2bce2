"""The practice journal: what was played and rendered, kept in SQLite on this machine.

`store` keeps the entries (one call records a command: `record`), with a versioned schema
and a journal that cannot be used never stopping a practice; `history` sums them up (the
week's and month's minutes, the streak of days) for `practice history`; `steer` is what a
composer reads: the poses done lately, the poses to leave out, the difficulty felt.
Nothing here leaves the machine.
"""
