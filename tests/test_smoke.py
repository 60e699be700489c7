from credits.models import Status, TopupAttempt


def test_topup_reaches_the_sandbox(sandbox, api):
    response = api.topup({"amountCents": 1000}, key="k1")
    assert response.status_code == 200, response.content
    assert response.json()["ok"] is True
    assert sandbox.state.snapshot()["charges"] == [{"key": sandbox.state.charges[0].key, "amountCents": 1000}]
    assert TopupAttempt.objects.get().status == Status.SUCCEEDED
