"""The credentials every test deployment is configured with, and the headers that carry them:
the one place tests get an API key or a service token from."""

from common.auth import bearer_headers

# Random-looking and long enough to pass the production checks (common/secrets.py).
TEST_API_KEY = "api-key-for-tests-4f9c2d7e1a8b3c6d"
TEST_READ_ONLY_API_KEY = "read-only-api-key-for-tests-7b1e9a3c5d2f"
TEST_SERVICE_TOKEN = "service-token-for-tests-2c8e5a1f9d4b7e3a"

API_HEADERS = bearer_headers(TEST_API_KEY)
SERVICE_HEADERS = bearer_headers(TEST_SERVICE_TOKEN)
