#!/bin/sh
# Waits for the cluster, then creates the namespace and the saga's custom search attributes
# (workflows/contracts.py SEARCH_ATTRIBUTES). Safe to re-run.
set -eu

tries=0
until temporal operator cluster health --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then
    echo "Temporal at $TEMPORAL_ADDRESS is not healthy after 120 s" >&2
    exit 1
  fi
  sleep 2
done

temporal operator namespace describe --namespace "$TEMPORAL_NAMESPACE" >/dev/null 2>&1 ||
  temporal operator namespace create --namespace "$TEMPORAL_NAMESPACE" \
    --retention "$NAMESPACE_RETENTION"

for attribute in StudentId CourseId SagaType SagaStatus FailedStep; do
  temporal operator search-attribute create --namespace "$TEMPORAL_NAMESPACE" \
    --name "$attribute" --type Keyword 2>/dev/null || echo "$attribute exists"
done
