"""What the API says about a job's Ray job: the dashboard link of its attempt, and its log (once it ran)."""

from __future__ import annotations


def test_a_dispatched_job_links_to_its_attempts_ray_job_on_the_dashboard(client, plane, alice, spec_body):
    job_id = client.post("/v1/jobs", json=spec_body, headers=alice).json()["id"]
    assert client.get(f"/v1/jobs/{job_id}", headers=alice).json()["location"]["dashboard_url"] is None
    plane.queue.claim("dispatcher")
    link = client.get(f"/v1/jobs/{job_id}", headers=alice).json()["location"]["dashboard_url"]
    assert link == f"{plane.settings.dashboard_url}/#/jobs/{job_id}-a1"


def test_the_log_of_a_job_that_never_ran_is_not_found(client, alice, spec_body):
    job_id = client.post("/v1/jobs", json=spec_body, headers=alice).json()["id"]
    response = client.get(f"/v1/jobs/{job_id}/logs", headers=alice)
    assert response.status_code == 404 and "has run 0 time(s)" in response.json()["detail"]
