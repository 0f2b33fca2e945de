"""pip install ./python: the paddle_serving_client, paddle_serving_app and
paddle_serving_server modules (pure Python; numpy at run time). The image
readers of paddle_serving_app.reader also load libskiff.so (ctypes; see
paddle_serving_app/reader/_native.py) and RCNNPostprocess draws with Pillow."""
from setuptools import find_packages, setup

setup(
    name="skiff-paddle-serving-client",
    version="0.1.0",
    description="Paddle Serving's Python client API (RPC and HTTP) for skiff servers",
    packages=find_packages(),
    python_requires=">=3.7",
    install_requires=["numpy"],
)
