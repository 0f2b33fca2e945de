"""OCRReader: Paddle Serving's text-recogniser reader, on skiff's C steps
(Resize, Normalize, Transpose; CTCLabelDecode for the CTC output).

    reader = OCRReader(char_dict_path="ppocr_keys_v1.txt")     # PP-OCRv3/v4: [3, 48, 320]
    x = reader.preprocess([crop])                               # float32 [3, 48, W]
    fetch = client.predict(feed={"x": x[np.newaxis]}, fetch=[...])
    [(text, score)] = reader.postprocess(fetch)

The dictionary has one class per line after the blank (class 0), and, as
Paddle's reader has it, a space as the last class; char_type "en" uses the
36 classes 0-9a-z and no dictionary file.
"""
import math
import os
import tempfile

import numpy as np

from ._native import Step

_EN_CHARS = "0123456789abcdefghijklmnopqrstuvwxyz"


class OCRReader(object):
    def __init__(self, algorithm="CRNN", image_shape=[3, 48, 320], char_type="ch", batch_num=1,
                 char_dict_path="./ppocr_keys_v1.txt"):
        self.algorithm = algorithm
        self.rec_image_shape = [int(v) for v in image_shape]
        self.character_type = char_type
        self.rec_batch_num = batch_num
        self.char_dict_path = char_dict_path
        c, h, _ = self.rec_image_shape
        self._norm = Step("Normalize", mean=[0.5] * c, std=[0.5] * c, is_scale=True)
        self._chw = Step("Transpose", perm=[2, 0, 1])
        self._resize = {}
        if char_type == "en":
            fd, path = tempfile.mkstemp(prefix="skiff-ocr-en-", suffix=".txt")
            try:
                with os.fdopen(fd, "w") as f:
                    f.write("\n".join(_EN_CHARS) + "\n")
                self._ctc = Step("CTCLabelDecode", character_dict_path=path,
                                 use_space_char=False)
            finally:
                os.unlink(path)
        else:
            if not os.path.exists(char_dict_path):
                raise FileNotFoundError("OCRReader: char_dict_path %s: no such file"
                                        % char_dict_path)
            self._ctc = Step("CTCLabelDecode", character_dict_path=char_dict_path,
                             use_space_char=True)

    def resize_norm_img(self, img, max_wh_ratio):
        """img (uint8 HWC) -> float32 [C, H, W]: height H (image_shape[1]),
        width ceil(H * w / h) capped at W, values (x / 255 - 0.5) / 0.5,
        zeros to the right. W is int(H * max_wh_ratio) for char_type "ch",
        image_shape[2] otherwise."""
        img_c, img_h, img_w = self.rec_image_shape
        if self.character_type == "ch":
            img_w = int(img_h * max_wh_ratio)
        h, w = img.shape[0], img.shape[1]
        ratio = w / float(h)
        resized_w = img_w if math.ceil(img_h * ratio) > img_w else int(math.ceil(img_h * ratio))
        key = (resized_w, img_h)
        s = self._resize.get(key)
        if s is None:
            if len(self._resize) > 64:
                self._resize.clear()
            s = self._resize[key] = Step("Resize", width=resized_w, height=img_h)
        a = np.asarray(img)
        if a.dtype != np.uint8 and a.dtype != np.float32:
            a = a.astype(np.float32)
        chw = self._chw(self._norm(s(a)[0])[0])[0]
        out = np.zeros((img_c, img_h, img_w), dtype=np.float32)
        out[:, :, :resized_w] = chw
        return out

    def preprocess(self, img_list):
        """The first image of img_list, resized to the batch's widest aspect
        ratio (at least image_shape's W / H): float32 [C, H, W]."""
        max_wh_ratio = self.rec_image_shape[2] / float(self.rec_image_shape[1])
        for img in img_list:
            h, w = img.shape[0:2]
            max_wh_ratio = max(max_wh_ratio, w * 1.0 / h)
        batch = [self.resize_norm_img(img, max_wh_ratio)[np.newaxis] for img in img_list]
        return np.concatenate(batch)[0].copy()

    def postprocess(self, outputs, with_score=False):
        """CTC greedy decode of the recogniser's probabilities, float32
        [N, T, C] (or [T, C]): the first value of a fetch map, or the array.
        Repeats are merged and blanks dropped; returns [(text, score)], score
        the mean probability of the kept characters."""
        preds = list(outputs.values())[0] if isinstance(outputs, dict) else outputs
        if hasattr(preds, "numpy"):
            preds = preds.numpy()
        preds = np.asarray(preds, dtype=np.float32)
        texts, scores = self._ctc(preds)[:2]
        return [(str(t), float(s)) for t, s in zip(texts.reshape(-1), scores.reshape(-1))]

    def __repr__(self):
        return "OCRReader(image_shape={0}, char_type={1})".format(self.rec_image_shape,
                                                                  self.character_type)


__all__ = ["OCRReader"]
