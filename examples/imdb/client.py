#!/usr/bin/python3
"""Classifies reviews read from stdin ("text | label" lines, as in
test_data/part-0) with the imdb model served by skiff, and prints each
review's probabilities (negative, positive), its label, and the accuracy.

    head test_data/part-0 | PYTHONPATH=../../python python3 client.py \
        imdb_lstm_client_conf/serving_client_conf.prototxt imdb.vocab [--http] [--endpoint HOST:PORT ...]

Without --http it speaks Paddle Serving's RPC (brpc); with it, HTTP
(POST /GeneralModelService/inference). The default endpoint is 127.0.0.1:9292.
"""
import argparse
import sys

import numpy as np
from paddle_serving_app.reader import IMDBDataset
from paddle_serving_client import Client, HttpClient


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("client_conf")
    ap.add_argument("vocab")
    ap.add_argument("--http", action="store_true", help="use HTTP instead of RPC")
    ap.add_argument("--endpoint", action="append", help="host:port (repeat: taken in turn)")
    args = ap.parse_args()

    client = HttpClient() if args.http else Client()
    client.load_client_config(args.client_conf)
    endpoints = args.endpoint or ["127.0.0.1:9292"]
    client.connect(endpoints)

    dataset = IMDBDataset()
    dataset.load_resource(args.vocab)
    right = total = 0
    for line in sys.stdin:
        if not line.strip():
            continue
        word_ids, label = dataset.get_words_and_label(line)
        fetch_map = client.predict(feed={"words": word_ids}, fetch=["prediction"], batch=False)
        prob = fetch_map["prediction"][0]
        print("{} {}".format(prob, label[0]))
        right += int(np.argmax(prob) == label[0])
        total += 1
    if total:
        print("accuracy: %.4f (%d/%d)" % (right / total, right, total), file=sys.stderr)


if __name__ == "__main__":
    main()
