"""Reading a process's Prometheus metrics in tests: scrape, then compare before and after."""

import httpx
from prometheus_client.parser import text_string_to_metric_families

Scraped = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(url: str) -> Scraped:
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(scraped: Scraped, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(
        sample_value
        for (sample, sample_labels), sample_value in scraped.items()
        if sample == name and wanted <= sample_labels
    )
