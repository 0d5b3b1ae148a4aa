"""When tracing is on, and what it costs when it is off: nothing installed at all."""

import pytest
from opentelemetry.sdk.trace import TracerProvider

from common.settings import ObservabilitySettings
from common.tracing import create_tracer_provider
from services.enrollment.config import EnrollmentSettings
from services.enrollment.main import create_app


def _instrumented(provider: TracerProvider | None = None) -> bool:
    app = create_app(EnrollmentSettings(), tracer_provider=provider)
    return bool(getattr(app, "_is_instrumented_by_opentelemetry", False))


def test_tracing_is_off_without_an_otlp_endpoint_and_nothing_is_instrumented(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)

    assert create_tracer_provider(ObservabilitySettings(), "enrollment") is None
    assert not _instrumented()


def test_an_otlp_endpoint_from_the_standard_variable_turns_tracing_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "enrollment-eu")

    provider = create_tracer_provider(ObservabilitySettings(), "enrollment")

    assert provider is not None
    assert provider.resource.attributes["service.name"] == "enrollment-eu"
    assert _instrumented()
    provider.shutdown()


@pytest.mark.parametrize(
    ("exporter", "endpoint", "on"),
    [("console", None, True), ("none", "http://collector:4318", False), ("otlp", None, False)],
)
def test_the_traces_exporter_setting_picks_console_or_nothing(
    exporter: str, endpoint: str | None, on: bool
) -> None:
    settings = ObservabilitySettings.model_validate(
        {"otel_traces_exporter": exporter, "otel_exporter_otlp_endpoint": endpoint}
    )

    assert settings.tracing_enabled is on


def test_a_provider_given_by_a_test_is_used_even_with_tracing_off() -> None:
    assert _instrumented(TracerProvider())
