#!/usr/bin/python3
# parse-metrics.py FILE: reads a Prometheus text exposition from FILE with the reference parser
# (Debian's python3-prometheus-client) and prints its families as JSON, for the metrics tests.
# A parse error exits 1 with the parser's message: the exposition is not valid.
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

try:
    families = [
        {
            "name": family.name,
            "type": family.type,
            "help": family.documentation,
            "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in family.samples],
        }
        for family in text_string_to_metric_families(open(sys.argv[1], encoding="utf-8").read())
    ]
except Exception as error:  # the parser raises ValueError and others: any of them means "not valid"
    print(f"parse-metrics.py: {error}", file=sys.stderr)
    sys.exit(1)

json.dump(families, sys.stdout)
