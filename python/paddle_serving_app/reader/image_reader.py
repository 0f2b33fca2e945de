"""Paddle Serving's image readers (paddle_serving_app.reader), with Paddle's
class names, arguments and results, computed by skiff's C steps through
libskiff.so (_native.py says where it is found). A client script that
prepares its images itself runs as written:

    seq = Sequential([File2Image(), BGR2RGB(), Div(255.0),
                      Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225], False),
                      Resize(640, 640), Transpose((2, 0, 1))])
    im = seq("000000570688.jpg")          # float32 [3, H, W]

and gets what the server's steps (docs/steps.md) give for the same
parameters. Images are numpy arrays, HWC, BGR as cv2.imread reads them;
uint8 until Div or Normalize make them float32.

Differences from Paddle's classes: an image that cannot be decoded raises
StepError (a ValueError naming the problem) where cv2.imdecode gave None;
URL2Image reads file:// URLs and local paths only; BGR2RGB / RGB2BGR swap
channels 0 and 2 (the same as Paddle's reversal for 3 channels) and return a
new array rather than a view.
"""
import json
import os

import numpy as np

from ._native import Step, StepError

_INTERP = {None: "linear", 0: "nearest", 1: "linear", 2: "cubic", 3: "area"}


def _pixels(img, who):
    """img as an ndarray the pixel steps take (uint8 or float32, HWC);
    other numeric types become float32, as Paddle's arithmetic makes them."""
    a = np.asarray(img)
    if a.dtype == np.uint8 or a.dtype == np.float32:
        return a
    if a.dtype.kind in "iufb":
        return a.astype(np.float32)
    raise TypeError("%s: expected an image array, got %s" % (who, type(img).__name__))


def _interp_name(interpolation):
    # Paddle passes interpolation to cv2 only when it is truthy: None and
    # cv2.INTER_NEAREST (0) both mean cv2's default, linear.
    if not interpolation:
        return "linear"
    if interpolation not in _INTERP:
        raise ValueError("interpolation: expected a cv2.INTER_* constant from 0 to 3 "
                         "(nearest, linear, cubic, area), got %r" % (interpolation,))
    return _INTERP[interpolation]


class Sequential(object):
    """Calls each transform in order, the output of one the input of the next."""

    def __init__(self, transforms):
        self.transforms = transforms

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self):
        return "Sequential(" + "".join("\n    %r" % (t,) for t in self.transforms) + "\n)"


class String2Image(object):
    """Encoded image bytes (JPEG, PNG, WebP) -> uint8 HWC BGR, as
    cv2.imdecode(data, cv2.IMREAD_COLOR)."""

    def __init__(self):
        self._decode = Step("ImageDecode")

    def __call__(self, img_buffer):
        if isinstance(img_buffer, str):
            img_buffer = img_buffer.encode("latin-1")
        return self._decode(img_buffer)[0]

    def __repr__(self):
        return self.__class__.__name__ + "()"


class File2Image(String2Image):
    """An image file's path -> uint8 HWC BGR, as cv2.imread(path)."""

    def __call__(self, img_path):
        with open(img_path, "rb") as f:
            data = f.read()
        try:
            return self._decode(data)[0]
        except StepError as e:
            raise StepError(e.code, "%s: %s" % (img_path, e)) from None


class URL2Image(File2Image):
    """A file:// URL or a local path -> uint8 HWC BGR. Only local files are
    read: other schemes (http, https, ftp) raise ValueError; fetch those
    yourself and decode the bytes with String2Image."""

    def __call__(self, img_url):
        from urllib.parse import unquote, urlparse
        u = urlparse(img_url)
        if u.scheme == "file":
            if u.netloc not in ("", "localhost"):
                raise ValueError("URL2Image: %s: only local files are read (file:///path)"
                                 % img_url)
            return File2Image.__call__(self, unquote(u.path))
        if u.scheme and len(u.scheme) > 1:  # "C:" style drive letters are paths
            raise ValueError("URL2Image: %s: only file:// URLs and local paths are read here "
                             "(no network access); fetch %s URLs yourself and decode the "
                             "bytes with String2Image" % (img_url, u.scheme))
        return File2Image.__call__(self, img_url)


class Base64ToImage(object):
    """A base64 string (or bytes) of an encoded image -> uint8 HWC BGR."""

    def __init__(self):
        self._b64 = Step("Base64Decode")
        self._decode = Step("ImageDecode")

    def __call__(self, img_base64):
        if isinstance(img_base64, str):
            img_base64 = img_base64.encode("ascii")
        return self._decode(self._b64(img_base64)[0])[0]

    def __repr__(self):
        return self.__class__.__name__ + "()"


class BGR2RGB(object):
    """Swaps channels 0 and 2 of an HWC image."""
    _step_name = "BGR2RGB"

    def __init__(self):
        self._swap = Step(self._step_name)

    def __call__(self, img):
        return self._swap(_pixels(img, self.__class__.__name__))[0]

    def __repr__(self):
        return self.__class__.__name__ + "()"


class RGB2BGR(BGR2RGB):
    _step_name = "RGB2BGR"


class Div(object):
    """img / value as float32."""

    def __init__(self, value):
        self.value = value
        self._div = Step("Div", value=float(value))

    def __call__(self, img):
        return self._div(_pixels(img, "Div"))[0]

    def __repr__(self):
        return "Div({})".format(self.value)


class Normalize(object):
    """(img - mean[c]) / std[c] per channel c, float32. The image is HWC, or
    CHW with channel_first=True."""

    def __init__(self, mean, std, channel_first=False):
        self.mean = mean
        self.std = std
        self.channel_first = channel_first
        self._norm = Step("Normalize", mean=[float(v) for v in mean],
                          std=[float(v) for v in std], is_scale=False)

    def __call__(self, img):
        a = _pixels(img, "Normalize")
        if not self.channel_first:
            return self._norm(a)[0]
        if a.ndim != 3:
            raise ValueError("Normalize: channel_first: expected a CHW image, got shape %s"
                             % (a.shape,))
        out = self._norm(np.ascontiguousarray(a.transpose(1, 2, 0)))[0]
        return np.ascontiguousarray(out.transpose(2, 0, 1))

    def __repr__(self):
        return "Normalize(mean={0}, std={1})".format(self.mean, self.std)


def resized_shape(shape, size, max_size=2147483647):
    """(width, height) that Paddle's Resize gives an image of shape (H, W, ...):
    an int `size` scales the shorter side to it, keeping the aspect ratio,
    unless the longer side would then pass max_size, when the longer side
    becomes max_size; a sequence is (width, height), each capped at max_size."""
    if isinstance(size, (tuple, list)):
        return min(int(size[0]), max_size), min(int(size[1]), max_size)
    h, w = shape[0], shape[1]
    percent = float(size) / min(h, w)
    if np.round(percent * max(h, w)) > max_size:
        percent = float(max_size) / float(max(h, w))
    return int(round(w * percent)), int(round(h * percent))


class Resize(object):
    """Resizes an HWC image as cv2.resize does (docs/steps.md: Resize).
    size: an int (the shorter side's length, aspect kept, the longer side
    capped at max_size) or (width, height). interpolation: a cv2.INTER_*
    constant; None (and, as in Paddle, INTER_NEAREST, which is 0) means
    linear."""

    def __init__(self, size, max_size=2147483647, interpolation=None):
        self.size = size
        self.max_size = max_size
        self.interpolation = interpolation
        self._interp = _interp_name(interpolation)
        self._steps = {}

    def __call__(self, img):
        a = _pixels(img, "Resize")
        if a.ndim not in (2, 3):
            raise ValueError("Resize: expected an HWC image, got shape %s" % (a.shape,))
        wh = resized_shape(a.shape, self.size, self.max_size)
        s = self._steps.get(wh)
        if s is None:
            if len(self._steps) > 16:
                self._steps.clear()
            s = self._steps[wh] = Step("Resize", width=wh[0], height=wh[1],
                                       interpolation=self._interp)
        return s(a)[0]

    def __repr__(self):
        return "Resize(size={0}, max_size={1}, interpolation={2})".format(
            self.size, self.max_size, self.interpolation)


class CenterCrop(object):
    """The size x size square (or (height, width)) at the image's centre:
    img[(H - h) // 2 :, (W - w) // 2 :][:h, :w]."""

    def __init__(self, size):
        self.size = size
        if isinstance(size, (tuple, list)):
            h, w = int(size[0]), int(size[1])
        else:
            h = w = int(size)
        self._crop = Step("CenterCrop", width=w, height=h)

    def __call__(self, img):
        return self._crop(_pixels(img, "CenterCrop"))[0]

    def __repr__(self):
        return "CenterCrop(size={0})".format(self.size)


class Transpose(object):
    """img.transpose(transpose_target), as a new contiguous array."""

    def __init__(self, transpose_target):
        self.transpose_target = transpose_target
        self._perm = Step("Transpose", perm=[int(v) for v in transpose_target])

    def __call__(self, img):
        return self._perm(np.asarray(img))[0]

    def __repr__(self):
        return "Transpose({})".format(self.transpose_target)


class ImageReader(object):
    """ImageNet-style classification input: decode, resize the shorter side
    to resize_short_size, crop image_shape[1] square (at the centre, or at
    random with crop_center=False), BGR -> RGB, /255, normalise, CHW float32."""

    def __init__(self, image_shape=[3, 224, 224], image_mean=[0.485, 0.456, 0.406],
                 image_std=[0.229, 0.224, 0.225], resize_short_size=256, interpolation=None,
                 crop_center=True):
        self.image_shape = image_shape
        self.image_mean = image_mean
        self.image_std = image_std
        self.resize_short_size = resize_short_size
        self.interpolation = interpolation
        self.crop_center = crop_center
        self._decode = Step("ImageDecode")
        self._rgb = Step("BGR2RGB")
        self._norm = Step("Normalize", mean=[float(v) for v in image_mean],
                          std=[float(v) for v in image_std], is_scale=True)
        self._chw = Step("Transpose", perm=[2, 0, 1])

    def resize_short(self, img, target_size, interpolation=None):
        """The shorter side scaled to target_size, the aspect ratio kept."""
        return Resize(int(target_size), interpolation=interpolation)(img)

    def crop_image(self, img, target_size, center):
        """A target_size square: at the centre, or at a random place."""
        if center:
            return CenterCrop(int(target_size))(img)
        h, w = img.shape[:2]
        y = np.random.randint(0, h - target_size + 1)
        x = np.random.randint(0, w - target_size + 1)
        return np.ascontiguousarray(img[y:y + target_size, x:x + target_size])

    def process_image(self, sample):
        """Encoded image bytes -> float32 [3, crop, crop]."""
        img = self._decode(sample)[0]
        crop = self.image_shape[1]
        if crop > 0:
            img = self.resize_short(img, self.resize_short_size, self.interpolation)
            img = self.crop_image(img, crop, self.crop_center)
        return self._chw(self._norm(self._rgb(img)[0])[0])[0]


class RCNNPostprocess(object):
    """Detections -> COCO-style boxes, written to output_dir/bbox.json, and a
    copy of the picture with the boxes (score >= 0.5) drawn on it.

    The call takes the fetch map with "image" (the picture's path) and the
    detector's output: rows [class, score, xmin, ymin, xmax, ymax], with its
    "<name>.lod" offsets (one image when absent). resize_shape (width, height)
    scales the drawn boxes from the resized input back to the picture."""

    def __init__(self, label_file, output_dir, resize_shape=None):
        self.label_file = label_file
        self.output_dir = output_dir
        self.resize_shape = resize_shape
        with open(label_file, encoding="utf-8") as f:
            self.label_list = [line.strip() for line in f]
        self.clsid2catid = {i: i for i in range(len(self.label_list))}
        self.catid2name = dict(enumerate(self.label_list))

    def _boxes(self, fetch_map, fetch_name):
        dets = np.asarray(fetch_map[fetch_name], dtype=np.float64)
        if dets.size == 0 or dets.shape == (1, 1) or dets.ndim != 2 or dets.shape[1] < 6:
            return []
        lod = fetch_map.get(fetch_name + ".lod")
        offsets = list(lod) if lod is not None else [0, len(dets)]
        out = []
        for i in range(len(offsets) - 1):
            for row in dets[int(offsets[i]):int(offsets[i + 1])]:
                clsid, score, x1, y1, x2, y2 = (float(v) for v in row[:6])
                out.append({"category_id": self.clsid2catid.get(int(clsid), int(clsid)),
                            "bbox": [x1, y1, x2 - x1 + 1, y2 - y1 + 1], "score": score})
        return out

    @staticmethod
    def color_map(num_classes):
        """Pascal VOC's label colours: bits of the class id spread over RGB."""
        cmap = np.zeros((max(num_classes, 1), 3), dtype=np.int64)
        for i in range(num_classes):
            lab, j = i, 0
            while lab:
                for c in range(3):
                    cmap[i, c] |= ((lab >> c) & 1) << (7 - j)
                j += 1
                lab >>= 3
        return cmap

    def _draw(self, image_path, boxes):
        from PIL import Image, ImageDraw
        image = Image.open(image_path).convert("RGB")
        draw = ImageDraw.Draw(image)
        colors = self.color_map(len(self.label_list))
        img_w, img_h = image.size
        for b in boxes:
            if b["score"] < 0.5:
                continue
            x1, y1, w, h = b["bbox"]
            x2, y2 = x1 + w, y1 + h
            if self.resize_shape is not None:
                sx, sy = img_w / self.resize_shape[0], img_h / self.resize_shape[1]
                x1, x2, y1, y2 = x1 * sx, x2 * sx, y1 * sy, y2 * sy
            color = tuple(int(v) for v in colors[b["category_id"] % len(colors)])
            draw.line([(x1, y1), (x1, y2), (x2, y2), (x2, y1), (x1, y1)], width=2, fill=color)
            text = "{} {:.2f}".format(self.catid2name.get(b["category_id"], b["category_id"]),
                                      b["score"])
            if hasattr(draw, "textbbox"):
                l, t, r, btm = draw.textbbox((0, 0), text)
                tw, th = r - l, btm - t
            else:
                tw, th = draw.textsize(text)
            draw.rectangle([(x1 + 1, y1 - th), (x1 + tw + 1, y1)], fill=color)
            draw.text((x1 + 1, y1 - th), text, fill=(255, 255, 255))
        out_path = os.path.join(self.output_dir, os.path.basename(image_path))
        image.save(out_path, quality=95)
        return out_path

    def __call__(self, image_with_bbox, visualize=True):
        fetch_name = ""
        for key in image_with_bbox:
            if key == "image" or ".lod" in key or "im_shape" in key:
                continue
            fetch_name = key
        if not fetch_name:
            raise ValueError("RCNNPostprocess: no detection output in the fetch map (keys %s)"
                             % sorted(image_with_bbox))
        boxes = self._boxes(image_with_bbox, fetch_name)
        os.makedirs(self.output_dir, exist_ok=True)
        if not visualize:
            return boxes
        self._draw(image_with_bbox["image"], boxes)
        with open(os.path.join(self.output_dir, "bbox.json"), "w") as f:
            json.dump(boxes, f, indent=4)
        return boxes

    def __repr__(self):
        return "RCNNPostprocess(label_file={0}, output_dir={1})".format(self.label_file,
                                                                        self.output_dir)


class Lambda(object):
    """Any callable as a transform: Lambda(f)(img) is f(img)."""

    def __init__(self, lambd):
        if not callable(lambd):
            raise TypeError("Lambda: expected a callable, got %s" % type(lambd).__name__)
        self.lambd = lambd

    def __call__(self, img):
        return self.lambd(img)

    def __repr__(self):
        return self.__class__.__name__ + "()"


def _pad_stride(im, stride):
    a = np.asarray(im)
    if a.ndim != 3:
        raise ValueError("PadStride: expected a CHW image, got shape %s" % (a.shape,))
    c, h, w = a.shape
    ph, pw = -(-h // stride) * stride, -(-w // stride) * stride
    out = np.zeros((c, ph, pw), dtype=np.float32)
    out[:, :h, :w] = a
    return out


class PadStride(object):
    """A CHW image padded with zeros at the bottom and right to multiples of
    stride, float32 (stride 0: unchanged), for detectors with an FPN."""

    def __init__(self, stride):
        self.coarsest_stride = int(stride)

    def __call__(self, img):
        if self.coarsest_stride <= 0:
            return img
        return _pad_stride(img, self.coarsest_stride)

    def __repr__(self):
        return "PadStride({})".format(self.coarsest_stride)


def factor_shape(h, w, factor=32, max_side_len=2400):
    """(height, width) that Paddle's ResizeByFactor gives an image of h x w:
    the longer side capped at max_side_len, then each side brought to a
    multiple of factor (a side that is not one drops to one factor below its
    floor multiple, and never under factor). As in Paddle, the height uses a
    factor of 32 for that step whatever factor is."""
    ratio = 1.0
    if max(h, w) > max_side_len:
        ratio = float(max_side_len) / (h if h > w else w)
    rh, rw = int(h * ratio), int(w * ratio)

    def fit(v, f):
        if v % factor == 0:
            return v
        if v // factor <= 1:
            return factor
        return (v // f - 1) * f

    return fit(rh, 32), fit(rw, factor)


class ResizeByFactor(object):
    """Resizes an HWC image (linear) to factor_shape(): the OCR detector's
    input, sides multiples of factor."""

    def __init__(self, factor=32, max_side_len=2400):
        self.factor = int(factor)
        self.max_side_len = int(max_side_len)

    def __call__(self, img):
        a = _pixels(img, "ResizeByFactor")
        if a.ndim != 3:
            raise ValueError("ResizeByFactor: expected an HWC image, got shape %s" % (a.shape,))
        h, w = factor_shape(a.shape[0], a.shape[1], self.factor, self.max_side_len)
        if h <= 0 or w <= 0:
            raise ValueError("ResizeByFactor: a %dx%d image resizes to %dx%d"
                             % (a.shape[1], a.shape[0], w, h))
        return Step("Resize", width=w, height=h)(a)[0]

    def __repr__(self):
        return "ResizeByFactor(factor={0}, max_side_len={1})".format(self.factor,
                                                                     self.max_side_len)


def _boxes(dt_boxes, who):
    b = np.asarray(dt_boxes, dtype=np.float32)
    if b.size == 0:
        return b.reshape(0, 4, 2)
    if b.ndim != 3 or b.shape[1:] != (4, 2):
        raise ValueError("%s: expected boxes of shape [N, 4, 2], got %s" % (who, b.shape))
    return np.ascontiguousarray(b)


class SortedBoxes(object):
    """Text boxes [N, 4, 2] in reading order: by the first point's y, then x,
    neighbours less than 10 px apart in y ordered left to right. Returns a
    list of [4, 2] arrays."""

    def __init__(self):
        self._sort = Step("SortedBoxes")

    def __call__(self, dt_boxes):
        b = _boxes(dt_boxes, "SortedBoxes")
        if len(b) == 0:
            return []
        return list(self._sort(b)[0])

    def __repr__(self):
        return self.__class__.__name__ + "()"


class GetRotateCropImage(object):
    """The quadrilateral `points` [4, 2] of img cut out and straightened by a
    perspective warp (edge pixels replicated), turned 90 degrees when it is
    at least 1.5 times taller than wide: the recogniser's input."""

    def __init__(self):
        self._crop = Step("GetRotateCropImage")

    def __call__(self, img, points):
        a = np.asarray(img)
        if a.dtype != np.uint8:
            raise TypeError("GetRotateCropImage: expected a uint8 image, got %s" % a.dtype)
        crops, sizes = self._crop(np.ascontiguousarray(a), _boxes([points], "GetRotateCropImage"))
        h, w = int(sizes[0][0]), int(sizes[0][1])
        return np.ascontiguousarray(crops[0, :h, :w])

    def __repr__(self):
        return self.__class__.__name__ + "()"


class DBPostProcess(object):
    """The text detector's probability map -> boxes (DB: binarise at thresh,
    contours, minimum-area boxes scored on the map, box_thresh, unclip by
    unclip_ratio), as the server's DBPostProcess step. params: a dict with
    thresh, box_thresh, max_candidates and unclip_ratio. The call takes the
    map [N, 1, H, W] and ratio_list [[ratio_h, ratio_w], ...] (the resized
    size over the picture's) and returns, per image, float32 boxes [K, 4, 2]
    in the picture's pixels."""

    def __init__(self, params):
        self.thresh = params["thresh"]
        self.box_thresh = params["box_thresh"]
        self.max_candidates = params["max_candidates"]
        self.unclip_ratio = params["unclip_ratio"]
        self.min_size = 3
        self._db = Step("DBPostProcess", thresh=float(self.thresh),
                        box_thresh=float(self.box_thresh),
                        max_candidates=int(self.max_candidates),
                        unclip_ratio=float(self.unclip_ratio))

    def __call__(self, pred, ratio_list):
        p = np.asarray(pred, dtype=np.float32)
        if p.ndim != 4 or p.shape[1] != 1:
            raise ValueError("DBPostProcess: expected a map [N, 1, H, W], got %s" % (p.shape,))
        out = []
        for n in range(p.shape[0]):
            rh, rw = (float(v) for v in ratio_list[n][:2])
            h, w = p.shape[2], p.shape[3]
            shape = np.array([round(h / rh), round(w / rw), rh, rw], dtype=np.float32)
            boxes, _ = self._db(np.ascontiguousarray(p[n:n + 1]), shape)
            out.append(boxes)
        return out

    def __repr__(self):
        return ("DBPostProcess thresh: {0}, box_thresh: {1}, max_candidates: {2}, "
                "unclip_ratio: {3}, min_size: {4}").format(self.thresh, self.box_thresh,
                                                           self.max_candidates,
                                                           self.unclip_ratio, self.min_size)


class FilterBoxes(object):
    """Boxes with their points ordered clockwise from the top-left, clipped
    to the image, and those whose sides are not longer than width and height
    dropped. Returns float32 [K, 4, 2]."""

    def __init__(self, width, height):
        self.filter_width = width
        self.filter_height = height

    @staticmethod
    def order_points_clockwise(pts):
        xs = pts[np.argsort(pts[:, 0], kind="stable")]
        left = xs[:2][np.argsort(xs[:2, 1], kind="stable")]
        right = xs[2:][np.argsort(xs[2:, 1], kind="stable")]
        return np.array([left[0], right[0], right[1], left[1]], dtype=np.float32)

    def __call__(self, dt_boxes, image_shape):
        ih, iw = int(image_shape[0]), int(image_shape[1])
        kept = []
        for box in _boxes(dt_boxes, "FilterBoxes"):
            b = self.order_points_clockwise(box)
            b[:, 0] = np.trunc(np.clip(b[:, 0], 0, iw - 1))
            b[:, 1] = np.trunc(np.clip(b[:, 1], 0, ih - 1))
            if (int(np.linalg.norm(b[0] - b[1])) <= self.filter_width
                    or int(np.linalg.norm(b[0] - b[3])) <= self.filter_height):
                continue
            kept.append(b)
        return np.array(kept, dtype=np.float32).reshape(-1, 4, 2)

    def __repr__(self):
        return "FilterBoxes filter_width: {0}, filter_height: {1}".format(self.filter_width,
                                                                          self.filter_height)


# ---- detection readers: each takes (im, im_info) and returns both ----------------------------
class DetectionSequential(object):
    """Calls each detection transform with (im, im_info), starting from
    im_info = {"scale_factor": [1, 1], "im_shape": None}; returns both."""

    def __init__(self, transforms):
        self.transforms = transforms

    def __call__(self, im):
        im_info = {"scale_factor": np.array([1.0, 1.0], dtype=np.float32), "im_shape": None}
        for t in self.transforms:
            im, im_info = t(im, im_info)
        return im, im_info

    def __repr__(self):
        return ("DetectionSequential(" + "".join("\n    %r" % (t,) for t in self.transforms)
                + "\n)")


class DetectionFile2Image(object):
    """An image file's path -> uint8 HWC RGB (decoded, then BGR -> RGB, as
    Paddle's detection reader does), with im_info's im_shape [h, w] and
    scale_factor [1, 1]."""

    def __init__(self):
        self._decode = Step("ImageDecode", to_rgb=True)

    def __call__(self, img_path, im_info=None):
        with open(img_path, "rb") as f:
            data = f.read()
        try:
            img = self._decode(data)[0]
        except StepError as e:
            raise StepError(e.code, "%s: %s" % (img_path, e)) from None
        if im_info is not None:
            im_info["im_shape"] = np.array(img.shape[:2], dtype=np.float32)
            im_info["scale_factor"] = np.array([1.0, 1.0], dtype=np.float32)
        return img, im_info

    def __repr__(self):
        return self.__class__.__name__ + "()"


class DetectionBGR2RGB(BGR2RGB):
    def __call__(self, img, im_info=None):
        return BGR2RGB.__call__(self, img), im_info


class DetectionDiv(Div):
    def __call__(self, img, im_info=None):
        return Div.__call__(self, img), im_info


class DetectionNormalize(object):
    """float32 (im / 255 if is_scale, then - mean[c]) / std[c], HWC."""

    def __init__(self, mean, std, is_scale=True):
        self.mean = mean
        self.std = std
        self.is_scale = is_scale
        self._norm = Step("Normalize", mean=[float(v) for v in mean],
                          std=[float(v) for v in std], is_scale=bool(is_scale))

    def __call__(self, im, im_info=None):
        return self._norm(_pixels(im, "DetectionNormalize"))[0], im_info

    def __repr__(self):
        return "DetectionNormalize(mean={0}, std={1})".format(self.mean, self.std)


class DetectionResize(object):
    """Resizes by factors as cv2.resize(im, None, fx=, fy=) does. With
    keep_ratio, one factor: the shorter side to min(target_size), unless the
    longer side would then pass max(target_size); else target_size is
    (height, width). im_info gets the new im_shape and scale_factor [y, x]."""

    def __init__(self, target_size, keep_ratio=True, interpolation=1):
        if isinstance(target_size, int):
            target_size = [target_size, target_size]
        self.target_size = target_size
        self.keep_ratio = keep_ratio
        self.interpolation = interpolation
        if interpolation not in _INTERP or interpolation is None:
            raise ValueError("interpolation: expected a cv2.INTER_* constant from 0 to 3 "
                             "(nearest, linear, cubic, area), got %r" % (interpolation,))
        self._interp = _INTERP[interpolation]

    def generate_scale(self, im):
        h, w = im.shape[0], im.shape[1]
        if self.keep_ratio:
            tmin, tmax = min(self.target_size), max(self.target_size)
            scale = float(tmin) / float(min(h, w))
            if np.round(scale * max(h, w)) > tmax:
                scale = float(tmax) / float(max(h, w))
            return scale, scale
        th, tw = self.target_size
        return th / float(h), tw / float(w)

    def __call__(self, im, im_info=None):
        if len(self.target_size) != 2 or min(self.target_size) <= 0:
            raise ValueError("DetectionResize: target_size: expected two sizes > 0, got %r"
                             % (self.target_size,))
        a = _pixels(im, "DetectionResize")
        if a.ndim != 3:
            raise ValueError("DetectionResize: expected an HWC image, got shape %s" % (a.shape,))
        sy, sx = self.generate_scale(a)
        out = Step("Resize", fx=sx, fy=sy, interpolation=self._interp)(a)[0]
        if im_info is not None:
            im_info["im_shape"] = np.array(out.shape[:2], dtype=np.float32)
            im_info["scale_factor"] = np.array([sy, sx], dtype=np.float32)
        return out, im_info

    def __repr__(self):
        return "DetectionResize(target_size={0}, keep_ratio={1}, interpolation={2})".format(
            self.target_size, self.keep_ratio, self.interpolation)


class DetectionTranspose(Transpose):
    def __call__(self, im, im_info=None):
        return Transpose.__call__(self, im), im_info


class DetectionPadStride(object):
    """PadStride for the detection chain: (im, im_info) in and out."""

    def __init__(self, stride=0):
        self.coarsest_stride = int(stride)

    def __call__(self, im, im_info=None):
        if self.coarsest_stride <= 0:
            return im, im_info
        return _pad_stride(im, self.coarsest_stride), im_info

    def __repr__(self):
        return "DetectionPadStride({})".format(self.coarsest_stride)


__all__ = ["Sequential", "String2Image", "File2Image", "URL2Image", "Base64ToImage", "BGR2RGB",
           "RGB2BGR", "Div", "Normalize", "Resize", "CenterCrop", "Transpose", "ImageReader",
           "RCNNPostprocess", "resized_shape", "Lambda", "PadStride", "ResizeByFactor",
           "factor_shape", "SortedBoxes", "GetRotateCropImage", "DBPostProcess", "FilterBoxes",
           "DetectionSequential", "DetectionFile2Image", "DetectionBGR2RGB", "DetectionDiv",
           "DetectionNormalize", "DetectionResize", "DetectionTranspose", "DetectionPadStride"]
