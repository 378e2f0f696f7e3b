"""Assertions on the serving app's answers to Flask test requests."""


def assert_json_error(response, status, *fragments):
    """A Flask test response is the serving app's JSON error, {"error", "message"}, whose message holds fragments."""
    assert response.status_code == status, response.data
    body = response.get_json()
    assert set(body) == {"error", "message"}
    for fragment in fragments:
        assert fragment in body["message"], body["message"]
