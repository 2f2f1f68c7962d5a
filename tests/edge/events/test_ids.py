from __future__ import annotations

import uuid

from lepton.edge.events.ids import new_event_id


def test_event_ids_are_uuid7_and_sort_by_time() -> None:
    ids = [new_event_id(now_ms=1_700_000_000_000 + i) for i in range(50)]
    parsed = [uuid.UUID(i) for i in ids]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in parsed)
    assert ids == sorted(ids)
    assert len(set(ids)) == 50
    assert int(ids[0].replace("-", "")[:12], 16) == 1_700_000_000_000
