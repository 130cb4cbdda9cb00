async def test_live(client):
    response = await client.get("/health/live")
    assert response.status_code == 200
    assert response.headers["X-Correlation-Id"]
