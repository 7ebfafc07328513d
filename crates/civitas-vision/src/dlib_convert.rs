//! Converts dlib's face-recognition network (`dlib_face_recognition_resnet_model_v1.dat`,
//! CC0, from the PyPI package `face_recognition_models==0.3.0`) into an ONNX graph.
//!
//! dlib stores the network in its own serialisation (see `shared/DLIB-MODEL-NOTES.md`):
//! compact integers, tensors as `version, n, k, rows, cols, f32…`, and one record
//! per layer introduced by an ASCII tag, input side first. Tag layers (`tag1`,
//! `skip1`) write no record, so the residual wiring is rebuilt from the known
//! ResNet shape: a block is `con → affine → relu → con → affine`, optionally an
//! `avg_pool` of the block's input as the shortcut (down-sampling blocks), then
//! `add_prev` and `relu`. Where the two branches differ in channels or size,
//! dlib adds as if the smaller were zero-padded at the end; we insert `Pad`.
//!
//! Every `affine` (a frozen batch-norm) directly follows a `con`, so it is folded
//! into that convolution's weights and bias: fewer nodes, same numbers.
//! (Over 600 lines with its tests, which include a crashing input found by
//! fuzzing, kept beside the parser.)

use crate::onnx_proto::{Attr, Dim, Model, Node, Tensor, TensorData, ValueInfo};
use civitas_base::{Error, Result};

/// Chip side the network expects, in pixels.
pub const CHIP_SIZE_PX: usize = 150;
/// Per-channel means dlib's `input_rgb_image_sized` subtracts (R, G, B).
pub const INPUT_MEAN_RGB: [f32; 3] = [122.782, 117.001, 104.298];
/// dlib divides by 256 after subtracting the mean.
pub const INPUT_SCALE: f32 = 1.0 / 256.0;
/// Name of the ONNX input (`[N,3,150,150]` RGB float in 0..255).
pub const INPUT_NAME: &str = "chip_rgb";
/// Name of the ONNX output (`[N,128]`).
pub const OUTPUT_NAME: &str = "descriptor";

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn err(&self, what: &str) -> Error {
        Error::new(
            civitas_base::ErrorKind::DataLoss,
            format!("dlib model: {what} at byte {}", self.pos),
        )
    }

    fn byte(&mut self) -> Result<u8> {
        let v = *self
            .b
            .get(self.pos)
            .ok_or_else(|| self.err("unexpected end"))?;
        self.pos += 1;
        Ok(v)
    }

    /// dlib's compact integer: control byte (low 4 bits: length, 0x80: negative), LE magnitude.
    fn int(&mut self) -> Result<i64> {
        let ctl = self.byte()?;
        let n = (ctl & 0x0f) as usize;
        if n > 8 {
            return Err(self.err("integer longer than 8 bytes"));
        }
        let mut v: u64 = 0;
        for i in 0..n {
            v |= (self.byte()? as u64) << (8 * i);
        }
        let v = v as i64;
        Ok(if ctl & 0x80 != 0 { -v } else { v })
    }

    fn tensor(&mut self) -> Result<Vec<f32>> {
        let version = self.int()?;
        if version != 2 {
            return Err(self.err(&format!("tensor version {version}, expected 2")));
        }
        let mut count: usize = 1;
        for _ in 0..4 {
            let d = self.int()?;
            if !(0..=1 << 28).contains(&d) {
                return Err(self.err(&format!("tensor dimension {d} out of range")));
            }
            count = count
                .checked_mul(d as usize)
                .filter(|c| *c <= 1 << 28)
                .ok_or_else(|| self.err("tensor too large"))?;
        }
        let bytes = count * 4;
        let end = self.pos + bytes;
        if end > self.b.len() {
            return Err(self.err("tensor data past end of file"));
        }
        let out = self.b[self.pos..end]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        self.pos = end;
        Ok(out)
    }

    /// Moves to just past the next occurrence of one of `tags` (as a dlib string:
    /// length byte 0x01, the length, then the tag), returning which one. One
    /// forward scan: the next record is normally a few bytes away.
    fn next_tag(&mut self, tags: &[&'static str]) -> Option<&'static str> {
        let b = self.b;
        let mut p = self.pos;
        while p + 2 < b.len() {
            if b[p] == 0x01 {
                let len = b[p + 1] as usize;
                let body = b.get(p + 2..p + 2 + len);
                if let Some(t) = tags
                    .iter()
                    .find(|t| t.len() == len && Some(t.as_bytes()) == body)
                {
                    self.pos = p + 2 + len;
                    return Some(t);
                }
            }
            p += 1;
        }
        self.pos = b.len();
        None
    }
}

/// One layer read from the file, input side first.
#[derive(Debug, Clone)]
pub enum Layer {
    Conv {
        filters: usize,
        kernel: [usize; 2],
        stride: [usize; 2],
        pad: [usize; 2],
        /// Weights then one bias per filter.
        params: Vec<f32>,
    },
    Affine {
        params: Vec<f32>,
    },
    Relu,
    MaxPool {
        window: [usize; 2],
        stride: [usize; 2],
        pad: [usize; 2],
    },
    AvgPool {
        window: [usize; 2],
        stride: [usize; 2],
        pad: [usize; 2],
    },
    AddPrev,
    Fc {
        outputs: usize,
        inputs: usize,
        params: Vec<f32>,
    },
}

const TAGS: &[&str] = &[
    "con_4",
    "affine_",
    "relu_",
    "max_pool_2",
    "avg_pool_2",
    "add_prev_",
    "fc_2",
];

fn usize_of(r: &Reader<'_>, v: i64, what: &str) -> Result<usize> {
    usize::try_from(v)
        .ok()
        .filter(|v| *v < 1 << 20)
        .ok_or_else(|| r.err(&format!("{what} = {v} is out of range")))
}

/// Parses the layer records of a dlib network file.
pub fn parse_layers(bytes: &[u8]) -> Result<Vec<Layer>> {
    let mut r = Reader { b: bytes, pos: 0 };
    let mut layers = Vec::new();
    while let Some(tag) = r.next_tag(TAGS) {
        let layer = match tag {
            "con_4" => {
                let params = r.tensor()?;
                let mut v = [0usize; 7];
                for (i, name) in [
                    "filters", "rows", "cols", "stride y", "stride x", "pad y", "pad x",
                ]
                .iter()
                .enumerate()
                {
                    let x = r.int()?;
                    v[i] = usize_of(&r, x, name)?;
                }
                Layer::Conv {
                    filters: v[0],
                    kernel: [v[1], v[2]],
                    stride: [v[3], v[4]],
                    pad: [v[5], v[6]],
                    params,
                }
            }
            "affine_" => Layer::Affine {
                params: r.tensor()?,
            },
            "relu_" => Layer::Relu,
            "add_prev_" => Layer::AddPrev,
            "max_pool_2" | "avg_pool_2" => {
                let mut v = [0usize; 6];
                for (i, slot) in v.iter_mut().enumerate() {
                    let x = r.int()?;
                    *slot = usize_of(&r, x, &format!("pool field {i}"))?;
                }
                let (window, stride, pad) = ([v[0], v[1]], [v[2], v[3]], [v[4], v[5]]);
                if tag == "max_pool_2" {
                    Layer::MaxPool {
                        window,
                        stride,
                        pad,
                    }
                } else {
                    Layer::AvgPool {
                        window,
                        stride,
                        pad,
                    }
                }
            }
            "fc_2" => {
                let o = r.int()?;
                let i = r.int()?;
                let outputs = usize_of(&r, o, "fc outputs")?;
                let inputs = usize_of(&r, i, "fc inputs")?;
                let params = r.tensor()?;
                if params.len() < inputs * outputs {
                    return Err(r.err("fc parameter tensor smaller than inputs × outputs"));
                }
                Layer::Fc {
                    outputs,
                    inputs,
                    params,
                }
            }
            _ => unreachable!("tag list and match agree"),
        };
        layers.push(layer);
    }
    if layers.is_empty() {
        return Err(Error::invalid(
            "dlib model: no layer records found; is this a dlib network file?",
        ));
    }
    Ok(layers)
}

/// Shape of an activation: channels, rows, cols (batch is symbolic).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Shape {
    c: usize,
    h: usize,
    w: usize,
}

/// Output length of a window sliding over `len` (conv or pool), or an error
/// naming the layer when the file's numbers cannot describe a real layer.
fn pooled(layer: usize, len: usize, window: usize, stride: usize, pad: usize) -> Result<usize> {
    let padded = len + 2 * pad;
    if stride == 0 || window == 0 || window > padded {
        return Err(Error::invalid(format!(
            "dlib model: layer {layer} has window {window}, stride {stride} and padding {pad} over an input of {len}; \
             the file is corrupt or not the face-recognition ResNet"
        )));
    }
    Ok((padded - window) / stride + 1)
}

struct Builder {
    model: Model,
    next: usize,
}

impl Builder {
    fn name(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}_{}", self.next)
    }

    fn node(
        &mut self,
        op: &'static str,
        inputs: Vec<String>,
        attrs: Vec<(&'static str, Attr)>,
    ) -> String {
        let out = self.name(&op.to_ascii_lowercase());
        self.model.nodes.push(Node {
            op,
            name: out.clone(),
            inputs,
            outputs: vec![out.clone()],
            attrs,
        });
        out
    }

    fn init_f32(&mut self, prefix: &str, dims: Vec<i64>, data: Vec<f32>) -> String {
        let name = self.name(prefix);
        self.model.initializers.push(Tensor {
            name: name.clone(),
            dims,
            data: TensorData::F32(data),
        });
        name
    }

    fn init_i64(&mut self, prefix: &str, data: Vec<i64>) -> String {
        let name = self.name(prefix);
        self.model.initializers.push(Tensor {
            name: name.clone(),
            dims: vec![data.len() as i64],
            data: TensorData::I64(data),
        });
        name
    }

    /// Zero-pads `x` at the end of channels, rows and cols up to `to`.
    fn pad_to(&mut self, x: String, from: Shape, to: Shape) -> String {
        if from == to {
            return x;
        }
        let pads = self.init_i64(
            "pads",
            vec![
                0,
                0,
                0,
                0,
                0,
                (to.c - from.c) as i64,
                (to.h - from.h) as i64,
                (to.w - from.w) as i64,
            ],
        );
        self.node(
            "Pad",
            vec![x, pads],
            vec![("mode", Attr::Str("constant".into()))],
        )
    }
}

/// Builds the ONNX graph for a parsed dlib ResNet. Returns the encoded model.
pub fn build_onnx(layers: &[Layer], metadata: Vec<(String, String)>) -> Result<Vec<u8>> {
    let mut b = Builder {
        model: Model {
            graph_name: "dlib_face_recognition_resnet_model_v1".into(),
            metadata,
            ..Model::default()
        },
        next: 0,
    };
    b.model.inputs.push(ValueInfo {
        name: INPUT_NAME.into(),
        dims: vec![
            Dim::Named("batch"),
            Dim::Fixed(3),
            Dim::Fixed(CHIP_SIZE_PX as i64),
            Dim::Fixed(CHIP_SIZE_PX as i64),
        ],
    });
    // Input normalisation, as dlib's input layer does it.
    let mean = b.init_f32("mean", vec![1, 3, 1, 1], INPUT_MEAN_RGB.to_vec());
    let scale = b.init_f32("scale", vec![1], vec![INPUT_SCALE]);
    let centred = b.node("Sub", vec![INPUT_NAME.into(), mean], vec![]);
    let mut cur = b.node("Mul", vec![centred, scale], vec![]);
    let mut shape = Shape {
        c: 3,
        h: CHIP_SIZE_PX,
        w: CHIP_SIZE_PX,
    };
    // The residual block's input and its shape, and the shortcut once pooled.
    let mut block_in = (cur.clone(), shape);
    let mut shortcut: Option<(String, Shape)> = None;
    let mut after_add = false;
    let mut fc_done = false;

    let mut i = 0;
    while i < layers.len() {
        if fc_done {
            return Err(Error::invalid(
                "dlib model: layers after the final fc layer",
            ));
        }
        match &layers[i] {
            Layer::Conv {
                filters,
                kernel,
                stride,
                pad,
                params,
            } => {
                let (f, cin) = (*filters, shape.c);
                let wlen = f
                    .checked_mul(cin)
                    .and_then(|v| v.checked_mul(kernel[0]))
                    .and_then(|v| v.checked_mul(kernel[1]))
                    .filter(|v| *v <= 1 << 28)
                    .ok_or_else(|| {
                        Error::invalid(format!("dlib model: conv layer {i} is impossibly large"))
                    })?;
                if params.len() != wlen + f {
                    return Err(Error::invalid(format!(
                        "dlib model: conv layer {i} has {} parameters, expected {} for {f} filters of {cin}×{}×{}",
                        params.len(),
                        wlen + f,
                        kernel[0],
                        kernel[1]
                    )));
                }
                let mut w = params[..wlen].to_vec();
                let mut bias = params[wlen..].to_vec();
                // Fold a following affine (frozen batch-norm) into this conv.
                if let Some(Layer::Affine { params: ap }) = layers.get(i + 1) {
                    if ap.len() != 2 * f {
                        return Err(Error::invalid(format!(
                            "dlib model: affine layer {} has {} parameters, expected {}",
                            i + 1,
                            ap.len(),
                            2 * f
                        )));
                    }
                    let (g, beta) = ap.split_at(f);
                    let per = wlen / f;
                    for o in 0..f {
                        for v in &mut w[o * per..(o + 1) * per] {
                            *v *= g[o];
                        }
                        bias[o] = bias[o] * g[o] + beta[o];
                    }
                    i += 1;
                }
                let wn = b.init_f32(
                    "w",
                    vec![f as i64, cin as i64, kernel[0] as i64, kernel[1] as i64],
                    w,
                );
                let bn = b.init_f32("b", vec![f as i64], bias);
                cur = b.node(
                    "Conv",
                    vec![cur, wn, bn],
                    window_attrs(*kernel, *stride, *pad),
                );
                shape = Shape {
                    c: f,
                    h: pooled(i, shape.h, kernel[0], stride[0], pad[0])?,
                    w: pooled(i, shape.w, kernel[1], stride[1], pad[1])?,
                };
                after_add = false;
            }
            Layer::Affine { .. } => {
                return Err(Error::invalid(format!(
                    "dlib model: affine layer {i} does not follow a conv; unsupported layout"
                )));
            }
            Layer::Relu => {
                cur = b.node("Relu", vec![cur], vec![]);
                if after_add {
                    block_in = (cur.clone(), shape);
                    after_add = false;
                }
            }
            Layer::MaxPool {
                window,
                stride,
                pad,
            } => {
                cur = b.node("MaxPool", vec![cur], window_attrs(*window, *stride, *pad));
                shape = Shape {
                    c: shape.c,
                    h: pooled(i, shape.h, window[0], stride[0], pad[0])?,
                    w: pooled(i, shape.w, window[1], stride[1], pad[1])?,
                };
                // The stem ends here: the first residual block starts from this output.
                block_in = (cur.clone(), shape);
            }
            Layer::AvgPool {
                window,
                stride,
                pad,
            } => {
                if window[0] == 0 || window[1] == 0 {
                    cur = b.node("GlobalAveragePool", vec![cur], vec![]);
                    cur = b.node("Flatten", vec![cur], vec![("axis", Attr::Int(1))]);
                    shape = Shape {
                        c: shape.c,
                        h: 1,
                        w: 1,
                    };
                } else {
                    // Shortcut of a down-sampling block: pool the block's input.
                    let (x, s) = block_in.clone();
                    let p = b.node("AveragePool", vec![x], window_attrs(*window, *stride, *pad));
                    let ps = Shape {
                        c: s.c,
                        h: pooled(i, s.h, window[0], stride[0], pad[0])?,
                        w: pooled(i, s.w, window[1], stride[1], pad[1])?,
                    };
                    shortcut = Some((p, ps));
                }
            }
            Layer::AddPrev => {
                let (sc, ss) = shortcut.take().unwrap_or_else(|| block_in.clone());
                let to = Shape {
                    c: shape.c.max(ss.c),
                    h: shape.h.max(ss.h),
                    w: shape.w.max(ss.w),
                };
                let a = b.pad_to(cur, shape, to);
                let s = b.pad_to(sc, ss, to);
                cur = b.node("Add", vec![a, s], vec![]);
                shape = to;
                after_add = true;
            }
            Layer::Fc {
                outputs,
                inputs,
                params,
            } => {
                if *inputs != shape.c * shape.h * shape.w {
                    return Err(Error::invalid(format!(
                        "dlib model: fc expects {inputs} inputs but the network gives {}",
                        shape.c * shape.h * shape.w
                    )));
                }
                let w = b.init_f32(
                    "fc",
                    vec![*inputs as i64, *outputs as i64],
                    params[..inputs * outputs].to_vec(),
                );
                let out = b.name("fc_out");
                b.model.nodes.push(Node {
                    op: "MatMul",
                    name: out.clone(),
                    inputs: vec![cur.clone(), w],
                    outputs: vec![OUTPUT_NAME.into()],
                    attrs: vec![],
                });
                cur = OUTPUT_NAME.into();
                b.model.outputs.push(ValueInfo {
                    name: OUTPUT_NAME.into(),
                    dims: vec![Dim::Named("batch"), Dim::Fixed(*outputs as i64)],
                });
                fc_done = true;
            }
        }
        i += 1;
    }
    if !fc_done {
        return Err(Error::invalid(
            "dlib model: no final fc layer; the file is truncated or not the face-recognition ResNet",
        ));
    }
    let _ = cur;
    Ok(b.model.encode())
}

/// `kernel_shape`, `strides` and symmetric `pads`, shared by Conv and the pools.
fn window_attrs(
    window: [usize; 2],
    stride: [usize; 2],
    pad: [usize; 2],
) -> Vec<(&'static str, Attr)> {
    vec![
        (
            "kernel_shape",
            Attr::Ints(vec![window[0] as i64, window[1] as i64]),
        ),
        (
            "strides",
            Attr::Ints(vec![stride[0] as i64, stride[1] as i64]),
        ),
        (
            "pads",
            Attr::Ints(vec![
                pad[0] as i64,
                pad[1] as i64,
                pad[0] as i64,
                pad[1] as i64,
            ]),
        ),
    ]
}

/// Parses a dlib face-recognition network and returns the ONNX model bytes.
pub fn convert(dlib_bytes: &[u8]) -> Result<Vec<u8>> {
    let layers = parse_layers(dlib_bytes)?;
    build_onnx(
        &layers,
        vec![
            (
                "source".into(),
                "dlib_face_recognition_resnet_model_v1.dat (face_recognition_models 0.3.0, CC0)"
                    .into(),
            ),
            ("converter".into(), "civitas models convert-dlib".into()),
            ("input".into(), "chip_rgb [N,3,150,150] RGB 0..255".into()),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: i64) -> Vec<u8> {
        let neg = v < 0;
        let mut m = v.unsigned_abs();
        let mut bytes = Vec::new();
        while m > 0 {
            bytes.push(m as u8);
            m >>= 8;
        }
        let mut out = vec![bytes.len() as u8 | if neg { 0x80 } else { 0 }];
        out.extend(bytes);
        out
    }

    #[test]
    fn compact_integers_decode() {
        for v in [0i64, 1, -1, 255, 256, -70000, 1 << 40] {
            let b = enc(v);
            let mut r = Reader { b: &b, pos: 0 };
            assert_eq!(r.int().unwrap(), v);
        }
    }

    /// Found by `cargo fuzz run dlib_model` (fuzz/): a pool wider than its input used to panic.
    #[test]
    fn a_pool_wider_than_its_input_is_an_error_not_a_panic() {
        let crash: &[u8] = &[
            0x2d, 0x01, 0x0a, 0x61, 0x76, 0x67, 0x5f, 0x70, 0x6f, 0x6f, 0x6c, 0x5f, 0x32, 0x01,
            0x0a, 0x61, 0x76, 0x00, 0x01, 0x09, 0x32, 0x0b, 0x2d, 0xb0, 0x65, 0x76, 0x5f, 0x70,
            0x5f, 0x14, 0x33,
        ];
        let e = convert(crash).unwrap_err();
        assert!(e.message().contains("window"), "{}", e.message());
        assert_eq!(
            pooled(3, 10, 3, 0, 0).unwrap_err().kind(),
            civitas_base::ErrorKind::InvalidArgument
        );
        assert_eq!(pooled(3, 150, 7, 2, 0).unwrap(), 72);
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let e = convert(b"this is not a dlib network").unwrap_err();
        assert!(e.message().contains("no layer records"), "{}", e.message());
        // A tag followed by a truncated tensor.
        let mut b = vec![0x01, 5];
        b.extend_from_slice(b"con_4");
        b.extend(enc(2));
        for d in [1, 1, 1000, 1000] {
            b.extend(enc(d));
        }
        let e = convert(&b).unwrap_err();
        assert!(e.message().contains("past end of file"), "{}", e.message());
    }
}
