"""Readers that turn raw inputs into what a served model is fed, with Paddle
Serving's names: IMDBDataset (text, pure Python) and the image readers
(Sequential, File2Image, Base64ToImage, BGR2RGB, Div, Normalize, Resize,
CenterCrop, Transpose, ImageReader, OCRReader, RCNNPostprocess, the OCR
helpers and the Detection* chain of Paddle's detection clients, ...), which
run skiff's C steps through libskiff.so (_native.py says where it is found;
SkiffLibraryNotFound, an ImportError, when it is not)."""
from ._native import SkiffLibraryNotFound, Step, StepError, step_names
from .image_reader import (Base64ToImage, BGR2RGB, CenterCrop, DBPostProcess,
                           DetectionBGR2RGB, DetectionDiv, DetectionFile2Image,
                           DetectionNormalize, DetectionPadStride, DetectionResize,
                           DetectionSequential, DetectionTranspose, Div, File2Image,
                           FilterBoxes, GetRotateCropImage, ImageReader, Lambda, Normalize,
                           PadStride, RCNNPostprocess, Resize, ResizeByFactor, RGB2BGR,
                           Sequential, SortedBoxes, String2Image, Transpose, URL2Image)
from .imdb_reader import IMDBDataset
from .ocr_reader import OCRReader

__all__ = ["IMDBDataset", "Sequential", "String2Image", "File2Image", "URL2Image",
           "Base64ToImage", "BGR2RGB", "RGB2BGR", "Div", "Normalize", "Resize", "CenterCrop",
           "Transpose", "ImageReader", "OCRReader", "RCNNPostprocess", "Step", "StepError",
           "SkiffLibraryNotFound", "step_names", "Lambda", "PadStride", "ResizeByFactor",
           "SortedBoxes", "GetRotateCropImage", "DBPostProcess", "FilterBoxes",
           "DetectionSequential", "DetectionFile2Image", "DetectionBGR2RGB", "DetectionDiv",
           "DetectionNormalize", "DetectionResize", "DetectionTranspose", "DetectionPadStride"]
