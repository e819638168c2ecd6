import uuid

from services.ids import new_job_id


def test_ids_made_back_to_back_sort_in_the_order_they_were_made():
    ids = [new_job_id() for _ in range(5000)]  # many share a millisecond
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_an_id_is_a_version_7_rfc_uuid():
    parsed = uuid.UUID(new_job_id())
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
