#!/usr/bin/python3
"""Sends one image to the detection pipeline (config.yml) and prints the boxes.

    python3 pipeline_http_client.py IMAGE [--port 18092]"""
import argparse
import base64
import json

import requests

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("image")
ap.add_argument("--port", type=int, default=18092)
args = ap.parse_args()
with open(args.image, "rb") as f:
    data = {"key": ["image"], "value": [base64.b64encode(f.read()).decode("ascii")]}
r = requests.post("http://127.0.0.1:%d/detection/prediction" % args.port, data=json.dumps(data))
answer = r.json()
if answer["err_no"] != 0:
    raise SystemExit("error %d: %s" % (answer["err_no"], answer["err_msg"]))
for b in json.loads(answer["value"][answer["key"].index("boxes")]):
    print("%-12s %.3f  [%s]" % (b.get("label", b["category_id"]), b["score"],
                                ", ".join("%.1f" % v for v in b["bbox"])))
