//! A minimal writer for the ONNX protobuf format: just the messages the dlib
//! converter needs (model, graph, node, attribute, tensor, value info).
//!
//! Why hand-written: the converter must run on a fresh machine as part of the
//! set-up, and pulling a protobuf code generator (and `protoc`) into the build
//! for six messages costs more than these ~150 lines. Field numbers follow
//! `onnx/onnx.proto` (IR version 8). Repeated scalars are written unpacked,
//! which every protobuf parser accepts.

/// Protobuf wire-format encoder into a byte buffer.
#[derive(Debug, Default)]
pub struct Pb(pub Vec<u8>);

impl Pb {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn key(&mut self, field: u32, wire: u8) {
        self.varint(((field as u64) << 3) | wire as u64);
    }

    pub fn int(&mut self, field: u32, v: i64) {
        self.key(field, 0);
        self.varint(v as u64);
    }

    pub fn float(&mut self, field: u32, v: f32) {
        self.key(field, 5);
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    pub fn bytes(&mut self, field: u32, b: &[u8]) {
        self.key(field, 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }

    pub fn str(&mut self, field: u32, s: &str) {
        self.bytes(field, s.as_bytes());
    }

    pub fn msg(&mut self, field: u32, m: &Pb) {
        self.bytes(field, &m.0);
    }
}

/// ONNX tensor element types used here.
pub const ELEM_FLOAT: i64 = 1;
pub const ELEM_INT64: i64 = 7;

/// A node attribute value.
#[derive(Debug, Clone)]
pub enum Attr {
    Int(i64),
    Ints(Vec<i64>),
    Float(f32),
    Str(String),
}

/// An initializer (constant tensor).
#[derive(Debug, Clone)]
pub struct Tensor {
    pub name: String,
    pub dims: Vec<i64>,
    pub data: TensorData,
}

#[derive(Debug, Clone)]
pub enum TensorData {
    F32(Vec<f32>),
    I64(Vec<i64>),
}

impl Tensor {
    fn encode(&self) -> Pb {
        let mut t = Pb::default();
        for d in &self.dims {
            t.int(1, *d);
        }
        let mut raw = Vec::new();
        match &self.data {
            TensorData::F32(v) => {
                t.int(2, ELEM_FLOAT);
                raw.reserve(v.len() * 4);
                for x in v {
                    raw.extend_from_slice(&x.to_le_bytes());
                }
            }
            TensorData::I64(v) => {
                t.int(2, ELEM_INT64);
                for x in v {
                    raw.extend_from_slice(&x.to_le_bytes());
                }
            }
        }
        t.str(8, &self.name);
        t.bytes(9, &raw);
        t
    }
}

/// One graph node.
#[derive(Debug, Clone)]
pub struct Node {
    pub op: &'static str,
    pub name: String,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub attrs: Vec<(&'static str, Attr)>,
}

impl Node {
    fn encode(&self) -> Pb {
        let mut n = Pb::default();
        for i in &self.inputs {
            n.str(1, i);
        }
        for o in &self.outputs {
            n.str(2, o);
        }
        n.str(3, &self.name);
        n.str(4, self.op);
        for (name, a) in &self.attrs {
            let mut p = Pb::default();
            p.str(1, name);
            match a {
                Attr::Float(f) => {
                    p.int(20, 1);
                    p.float(2, *f);
                }
                Attr::Int(i) => {
                    p.int(20, 2);
                    p.int(3, *i);
                }
                Attr::Str(s) => {
                    p.int(20, 3);
                    p.str(4, s);
                }
                Attr::Ints(v) => {
                    p.int(20, 7);
                    for i in v {
                        p.int(8, *i);
                    }
                }
            }
            n.msg(5, &p);
        }
        n
    }
}

/// A graph input or output: a float tensor whose dims are numbers or named symbols.
#[derive(Debug, Clone)]
pub struct ValueInfo {
    pub name: String,
    pub dims: Vec<Dim>,
}

#[derive(Debug, Clone)]
pub enum Dim {
    Fixed(i64),
    Named(&'static str),
}

impl ValueInfo {
    pub fn encode(&self) -> Pb {
        let mut shape = Pb::default();
        for d in &self.dims {
            let mut dim = Pb::default();
            match d {
                Dim::Fixed(v) => dim.int(1, *v),
                Dim::Named(s) => dim.str(2, s),
            }
            shape.msg(1, &dim);
        }
        let mut tt = Pb::default();
        tt.int(1, ELEM_FLOAT);
        tt.msg(2, &shape);
        let mut ty = Pb::default();
        ty.msg(1, &tt);
        let mut v = Pb::default();
        v.str(1, &self.name);
        v.msg(2, &ty);
        v
    }
}

/// A whole model: one graph, one opset, free-form metadata.
#[derive(Debug, Clone, Default)]
pub struct Model {
    pub graph_name: String,
    pub nodes: Vec<Node>,
    pub initializers: Vec<Tensor>,
    pub inputs: Vec<ValueInfo>,
    pub outputs: Vec<ValueInfo>,
    pub metadata: Vec<(String, String)>,
}

/// The opset the converter targets (Pad takes its pads as an input from 11 on).
pub const OPSET: i64 = 13;

impl Model {
    pub fn encode(&self) -> Vec<u8> {
        let mut g = Pb::default();
        for n in &self.nodes {
            g.msg(1, &n.encode());
        }
        g.str(2, &self.graph_name);
        for t in &self.initializers {
            g.msg(5, &t.encode());
        }
        for i in &self.inputs {
            g.msg(11, &i.encode());
        }
        for o in &self.outputs {
            g.msg(12, &o.encode());
        }
        let mut m = Pb::default();
        m.int(1, 8); // IR version 8
        m.str(2, "civitas");
        m.str(3, env!("CARGO_PKG_VERSION"));
        m.msg(7, &g);
        let mut opset = Pb::default();
        opset.str(1, "");
        opset.int(2, OPSET);
        m.msg(8, &opset);
        for (k, v) in &self.metadata {
            let mut e = Pb::default();
            e.str(1, k);
            e.str(2, v);
            m.msg(14, &e);
        }
        m.0
    }
}

/// One top-level field of an encoded protobuf message.
#[derive(Debug, Clone, Copy)]
pub struct Field<'a> {
    pub number: u32,
    pub wire: u8,
    /// The whole field: key, (length) and value, as encoded.
    pub raw: &'a [u8],
    /// The value (for length-delimited fields, without the length).
    pub value: &'a [u8],
}

fn read_varint(b: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*pos)?;
        *pos += 1;
        v |= ((byte & 0x7f) as u64) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Splits an encoded message into its top-level fields; `None` if malformed.
pub fn fields(b: &[u8]) -> Option<Vec<Field<'_>>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < b.len() {
        let start = pos;
        let key = read_varint(b, &mut pos)?;
        let (number, wire) = ((key >> 3) as u32, (key & 7) as u8);
        let vstart;
        match wire {
            0 => {
                vstart = pos;
                read_varint(b, &mut pos)?;
            }
            1 => {
                vstart = pos;
                pos += 8;
            }
            2 => {
                let len = read_varint(b, &mut pos)? as usize;
                vstart = pos;
                pos = pos.checked_add(len)?;
            }
            5 => {
                vstart = pos;
                pos += 4;
            }
            _ => return None,
        }
        if pos > b.len() {
            return None;
        }
        out.push(Field {
            number,
            wire,
            raw: &b[start..pos],
            value: &b[vstart..pos],
        });
    }
    Some(out)
}

/// Rewrites the graph of an encoded ModelProto: `edit` sees each top-level
/// GraphProto field and returns `None` to keep it, `Some(bytes)` to replace it
/// with those encoded fields (empty to drop it).
pub fn rewrite_graph(
    model: &[u8],
    mut edit: impl FnMut(&Field<'_>) -> Option<Vec<u8>>,
) -> Option<Vec<u8>> {
    let mut out = Pb::default();
    for f in fields(model)? {
        if f.number == 7 && f.wire == 2 {
            let mut g = Vec::with_capacity(f.value.len());
            for gf in fields(f.value)? {
                match edit(&gf) {
                    Some(bytes) => g.extend(bytes),
                    None => g.extend_from_slice(gf.raw),
                }
            }
            out.bytes(7, &g);
        } else {
            out.0.extend_from_slice(f.raw);
        }
    }
    Some(out.0)
}

/// Encodes a graph output (field 12) whose dims are given.
pub fn encode_output(v: &ValueInfo) -> Vec<u8> {
    let mut p = Pb::default();
    p.msg(12, &v.encode());
    p.0
}

/// The `name` of an encoded ValueInfoProto.
pub fn value_info_name(b: &[u8]) -> Option<String> {
    fields(b)?
        .into_iter()
        .find(|f| f.number == 1 && f.wire == 2)
        .map(|f| String::from_utf8_lossy(f.value).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_and_graph_rewrite() {
        let m = Model {
            graph_name: "g".into(),
            outputs: vec![ValueInfo {
                name: "y".into(),
                dims: vec![Dim::Fixed(1), Dim::Fixed(5)],
            }],
            ..Default::default()
        };
        let bytes = m.encode();
        let f = fields(&bytes).unwrap();
        assert_eq!(f.iter().map(|x| x.raw.len()).sum::<usize>(), bytes.len());
        // Replace the output with a symbolic one; keep everything else.
        let out = rewrite_graph(&bytes, |gf| {
            (gf.number == 12).then(|| {
                assert_eq!(value_info_name(gf.value).as_deref(), Some("y"));
                encode_output(&ValueInfo {
                    name: "y".into(),
                    dims: vec![Dim::Named("n")],
                })
            })
        })
        .unwrap();
        assert!(out.windows(1).count() > 0 && out != bytes);
        let g = fields(&out)
            .unwrap()
            .into_iter()
            .find(|f| f.number == 7)
            .unwrap();
        let outs: Vec<_> = fields(g.value)
            .unwrap()
            .into_iter()
            .filter(|f| f.number == 12)
            .collect();
        assert_eq!(outs.len(), 1);
        assert!(fields(b"\xff\xff\xff").is_none());
    }
}
