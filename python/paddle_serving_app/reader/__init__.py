"""Readers that turn raw inputs into what a served model is fed, with Paddle
Serving's names: IMDBDataset (text, pure Python) and the image readers
(Sequential, File2Image, Base64ToImage, BGR2RGB, Div, Normalize, Resize,
CenterCrop, Transpose, ImageReader, OCRReader, RCNNPostprocess, ...), which
run skiff's C steps through libskiff.so (_native.py says where it is found;
SkiffLibraryNotFound, an ImportError, when it is not)."""
from ._native import SkiffLibraryNotFound, Step, StepError, step_names
from .image_reader import (Base64ToImage, BGR2RGB, CenterCrop, Div, File2Image, ImageReader,
                           Normalize, RCNNPostprocess, Resize, RGB2BGR, Sequential,
                           String2Image, Transpose, URL2Image)
from .imdb_reader import IMDBDataset
from .ocr_reader import OCRReader

__all__ = ["IMDBDataset", "Sequential", "String2Image", "File2Image", "URL2Image",
           "Base64ToImage", "BGR2RGB", "RGB2BGR", "Div", "Normalize", "Resize", "CenterCrop",
           "Transpose", "ImageReader", "OCRReader", "RCNNPostprocess", "Step", "StepError",
           "SkiffLibraryNotFound", "step_names"]
