"""Paddle Serving's server entry point, served by skiff:
python3 -m paddle_serving_server.serve runs `skiff serve`."""
