//! A small executor for the operator graphs of the PP-OCR networks, over candle tensors.
//!
//! `tools/prepare_models.py` turns each ONNX model of the registry package into two files: a JSON graph
//! (`onewindow-graph/1`: inputs, outputs, nodes in topological order with their attributes) and a
//! safetensors file holding every constant. Only the operators those networks use are implemented, each
//! checked when the graph loads, so an unknown operator or attribute is an error at startup, never a
//! wrong answer later. Depthwise convolutions go to [`crate::kernels::Depthwise`]; matrix products
//! are candle's; a chain of pointwise operators runs fused ([`crate::fuse`]), and as the epilogue of
//! the convolution before it when it is that output's only user.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use anyhow::{anyhow, bail, ensure, Context, Result};
use candle_core::{DType, Device, Tensor};
use rayon::prelude::*;
use serde::Deserialize;

use crate::fuse::Step;

mod conv;
mod rewrite;

use conv::{conv, conv_transpose, ConvShape};
use rewrite::{fold_channel_affines, fuse_into_convolutions, fuse_pointwise};

pub const FORMAT: &str = "onewindow-graph/1";

#[derive(Debug, Deserialize)]
pub struct GraphFile {
    pub format: String,
    pub inputs: Vec<InputSpec>,
    pub outputs: Vec<String>,
    pub nodes: Vec<NodeSpec>,
    /// The recognition model's dictionary, in model order (without the CTC blank).
    #[serde(default)]
    pub characters: Vec<String>,
    #[serde(default)]
    pub ctc: Option<CtcSpec>,
}

#[derive(Debug, Deserialize)]
pub struct InputSpec {
    pub name: String,
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub struct CtcSpec {
    pub blank: usize,
    pub append_space: bool,
}

#[derive(Debug, Deserialize)]
pub struct NodeSpec {
    pub op: String,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    #[serde(default)]
    pub attrs: HashMap<String, Attr>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Attr {
    Int(i64),
    Float(f64),
    Ints(Vec<i64>),
    Floats(Vec<f64>),
    Str(String),
}

/// A value flowing along an edge: a float tensor, or the small integer tensors of shape arithmetic.
#[derive(Debug, Clone)]
pub enum Value {
    F(Tensor),
    I(Ints),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ints {
    pub shape: Vec<usize>,
    pub data: Vec<i64>,
}

impl Ints {
    fn vector(data: Vec<i64>) -> Self {
        Ints { shape: vec![data.len()], data }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Binary {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
}

#[derive(Debug, Clone)]
enum Op {
    Conv {
        kernel: (usize, usize),
        stride: (usize, usize),
        pads: [usize; 4],
        group: usize,
        /// A fused pointwise chain that followed the convolution, applied to its output planes.
        then: Vec<Step>,
    },
    ConvTranspose {
        kernel: (usize, usize),
        /// As for `Conv`.
        then: Vec<Step>,
    },
    BatchNorm {
        eps: f64,
    },
    Binary(Binary),
    Clip {
        min: Option<f32>,
        max: Option<f32>,
    },
    Relu,
    Sigmoid,
    HardSigmoid {
        alpha: f64,
        beta: f64,
    },
    Sqrt,
    Identity,
    GlobalAveragePool,
    ResizeNearest,
    Concat {
        axis: i64,
    },
    AveragePool {
        kernel: (usize, usize),
        stride: (usize, usize),
    },
    MaxPool {
        kernel: (usize, usize),
        stride: (usize, usize),
    },
    Shape,
    Cast {
        to_float: bool,
    },
    Slice,
    Reshape,
    Transpose {
        perm: Vec<usize>,
    },
    ReduceMean {
        axes: Option<Vec<i64>>,
        keepdims: bool,
    },
    MatMul,
    Squeeze {
        axes: Option<Vec<i64>>,
    },
    Unsqueeze {
        axes: Option<Vec<i64>>,
    },
    Softmax {
        axis: i64,
    },
    Flatten {
        axis: i64,
    },
    Gather {
        axis: i64,
    },
    /// A chain of pointwise operators on one tensor, run in one pass (see [`crate::fuse`]).
    Fused {
        steps: Vec<Step>,
    },
}

struct Node {
    op: Op,
    name: String,
    inputs: Vec<String>,
    outputs: Vec<String>,
    /// Values whose last use is this node, dropped after it runs.
    release: Vec<String>,
}

pub struct Graph {
    name: String,
    inputs: Vec<String>,
    outputs: Vec<String>,
    nodes: Vec<Node>,
    constants: HashMap<String, Value>,
    pub characters: Vec<String>,
    pub ctc: Option<CtcSpec>,
}

impl std::fmt::Debug for Graph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graph").field("name", &self.name).field("nodes", &self.nodes.len()).finish()
    }
}

static PROFILE_OPERATORS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Turns on (or off) the per-operator timing every graph run prints to stderr; for benchmarks. The
/// caller decides (a flag of the benchmark), so the crate reads no environment of its own.
pub fn profile_operators(on: bool) {
    PROFILE_OPERATORS.store(on, std::sync::atomic::Ordering::Relaxed);
}

impl Graph {
    /// Load `<stem>.json` and `<stem>.safetensors`.
    pub fn load(json: &Path, weights: &Path) -> Result<Self> {
        let text = std::fs::read(json).with_context(|| format!("reading {}", json.display()))?;
        let bytes = std::fs::read(weights).with_context(|| format!("reading {}", weights.display()))?;
        let name = json.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        Self::from_bytes(&name, &text, &bytes)
    }

    /// A graph from the contents of its `.json` and `.safetensors` files.
    pub fn from_bytes(name: &str, json: &[u8], weights: &[u8]) -> Result<Self> {
        let file: GraphFile = serde_json::from_slice(json).with_context(|| format!("parsing {name}.json"))?;
        let tensors =
            candle_core::safetensors::load_buffer(weights, &Device::Cpu).with_context(|| format!("parsing {name}.safetensors"))?;
        Self::from_parts(name.to_string(), file, tensors)
    }

    pub fn from_parts(name: String, file: GraphFile, tensors: HashMap<String, Tensor>) -> Result<Self> {
        ensure!(file.format == FORMAT, "{name}: graph format {:?}, expected {FORMAT:?}", file.format);
        let mut constants = HashMap::new();
        for (key, tensor) in tensors {
            let value = match tensor.dtype() {
                DType::F32 => Value::F(tensor),
                DType::F16 | DType::BF16 | DType::F64 => Value::F(tensor.to_dtype(DType::F32)?),
                DType::I64 => Value::I(Ints { shape: tensor.dims().to_vec(), data: tensor.flatten_all()?.to_vec1::<i64>()? }),
                other => bail!("{name}: constant {key} has unsupported type {other:?}"),
            };
            constants.insert(key, value);
        }
        let mut nodes = Vec::with_capacity(file.nodes.len());
        let mut defined: HashSet<String> = constants.keys().cloned().collect();
        defined.extend(file.inputs.iter().map(|i| i.name.clone()));
        for (index, spec) in file.nodes.into_iter().enumerate() {
            let label = format!("{name}: node {index} ({})", spec.op);
            for input in spec.inputs.iter().filter(|i| !i.is_empty()) {
                ensure!(defined.contains(input), "{label}: input {input} is not defined before use");
            }
            let op = parse_op(&spec).with_context(|| label.clone())?;
            defined.extend(spec.outputs.iter().cloned());
            nodes.push(Node { op, name: label, inputs: spec.inputs, outputs: spec.outputs, release: Vec::new() });
        }
        for output in &file.outputs {
            ensure!(defined.contains(output), "{name}: graph output {output} is never computed");
        }
        let nodes = fold_channel_affines(nodes, &mut constants, &file.outputs).with_context(|| name.clone())?;
        let mut nodes = fuse_into_convolutions(fuse_pointwise(nodes, &constants, &file.outputs), &file.outputs);
        // Free every intermediate after its last use: the detector's early feature maps are large.
        let mut last_use: HashMap<&str, usize> = HashMap::new();
        for (index, node) in nodes.iter().enumerate() {
            for input in &node.inputs {
                last_use.insert(input.as_str(), index);
            }
        }
        let mut release: Vec<Vec<String>> = vec![Vec::new(); nodes.len()];
        for (value, index) in last_use {
            if !constants.contains_key(value) && !file.outputs.iter().any(|o| o == value) && !value.is_empty() {
                release[index].push(value.to_string());
            }
        }
        for (node, names) in nodes.iter_mut().zip(release) {
            node.release = names;
        }
        Ok(Graph {
            name,
            inputs: file.inputs.into_iter().map(|i| i.name).collect(),
            outputs: file.outputs,
            nodes,
            constants,
            characters: file.characters,
            ctc: file.ctc,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Run the graph on its (single) float input; returns its outputs in order. With
    /// [`profile_operators`] on, prints the time spent per operator kind to stderr.
    pub fn run(&self, input: Tensor) -> Result<Vec<Tensor>> {
        ensure!(self.inputs.len() == 1, "{}: expected one input, the graph has {}", self.name, self.inputs.len());
        let mut env: HashMap<String, Value> = HashMap::new();
        env.insert(self.inputs[0].clone(), Value::F(input));
        let profile = PROFILE_OPERATORS.load(std::sync::atomic::Ordering::Relaxed);
        let mut spent: std::collections::BTreeMap<String, std::time::Duration> = Default::default();
        for node in &self.nodes {
            let started = profile.then(std::time::Instant::now);
            let args: Vec<Option<&Value>> = node
                .inputs
                .iter()
                .map(|name| if name.is_empty() { None } else { env.get(name).or_else(|| self.constants.get(name)) })
                .collect();
            let results = eval(&node.op, &args).with_context(|| node.name.clone())?;
            ensure!(results.len() >= node.outputs.len(), "{}: produced {} outputs", node.name, results.len());
            for (name, value) in node.outputs.iter().zip(results) {
                env.insert(name.clone(), value);
            }
            for name in &node.release {
                env.remove(name);
            }
            if let Some(started) = started {
                let key = match &node.op {
                    Op::Fused { .. } => "Fused pointwise".to_string(),
                    Op::Conv { group, .. } if *group > 1 => "Conv depthwise".to_string(),
                    Op::Conv { kernel: (1, 1), .. } => "Conv 1x1".to_string(),
                    Op::Conv { kernel, stride, .. } => format!("Conv {}x{} s{}", kernel.0, kernel.1, stride.0),
                    op => format!("{op:?}").split([' ', '(', '{']).next().unwrap_or_default().to_string(),
                };
                *spent.entry(key).or_default() += started.elapsed();
            }
        }
        if profile {
            let mut rows: Vec<_> = spent.into_iter().collect();
            rows.sort_by_key(|r| std::cmp::Reverse(r.1));
            let total: std::time::Duration = rows.iter().map(|r| r.1).sum();
            eprintln!("graph {}: {:.1} ms", self.name, total.as_secs_f64() * 1000.0);
            for (op, d) in rows.iter().take(12) {
                eprintln!("  {op:<16} {:>8.1} ms", d.as_secs_f64() * 1000.0);
            }
        }
        self.outputs
            .iter()
            .map(|name| match env.remove(name) {
                Some(Value::F(t)) => Ok(t),
                Some(Value::I(_)) => Err(anyhow!("{}: output {name} is an integer tensor", self.name)),
                None => Err(anyhow!("{}: output {name} was not computed", self.name)),
            })
            .collect()
    }
}

fn attr_ints(spec: &NodeSpec, key: &str) -> Result<Option<Vec<i64>>> {
    match spec.attrs.get(key) {
        None => Ok(None),
        Some(Attr::Ints(v)) => Ok(Some(v.clone())),
        Some(Attr::Int(v)) => Ok(Some(vec![*v])),
        Some(other) => bail!("attribute {key} is {other:?}, expected integers"),
    }
}

fn attr_int(spec: &NodeSpec, key: &str, default: i64) -> Result<i64> {
    match spec.attrs.get(key) {
        None => Ok(default),
        Some(Attr::Int(v)) => Ok(*v),
        Some(other) => bail!("attribute {key} is {other:?}, expected an integer"),
    }
}

fn attr_float(spec: &NodeSpec, key: &str) -> Result<Option<f64>> {
    match spec.attrs.get(key) {
        None => Ok(None),
        Some(Attr::Float(v)) => Ok(Some(*v)),
        Some(Attr::Int(v)) => Ok(Some(*v as f64)),
        Some(other) => bail!("attribute {key} is {other:?}, expected a number"),
    }
}

fn attr_str<'a>(spec: &'a NodeSpec, key: &str, default: &'a str) -> Result<&'a str> {
    match spec.attrs.get(key) {
        None => Ok(default),
        Some(Attr::Str(s)) => Ok(s),
        Some(other) => bail!("attribute {key} is {other:?}, expected a string"),
    }
}

fn pair(v: Option<Vec<i64>>, default: usize) -> Result<(usize, usize)> {
    match v.as_deref() {
        None => Ok((default, default)),
        Some([a, b]) if *a >= 0 && *b >= 0 => Ok((*a as usize, *b as usize)),
        Some(other) => bail!("expected two non-negative values, got {other:?}"),
    }
}

fn pads4(v: Option<Vec<i64>>) -> Result<[usize; 4]> {
    match v.as_deref() {
        None => Ok([0; 4]),
        // ONNX order: top, left, bottom, right
        Some([t, l, b, r]) if [t, l, b, r].iter().all(|p| **p >= 0) => Ok([*t as usize, *l as usize, *b as usize, *r as usize]),
        Some(other) => bail!("expected four non-negative pads, got {other:?}"),
    }
}

fn parse_op(spec: &NodeSpec) -> Result<Op> {
    let no_auto_pad = || -> Result<()> {
        let auto = attr_str(spec, "auto_pad", "NOTSET")?;
        ensure!(auto == "NOTSET", "auto_pad {auto} is not supported");
        Ok(())
    };
    let unit_dilations = || -> Result<()> {
        let d = pair(attr_ints(spec, "dilations")?, 1)?;
        ensure!(d == (1, 1), "dilations {d:?} are not supported");
        Ok(())
    };
    let op = match spec.op.as_str() {
        "Conv" => {
            no_auto_pad()?;
            unit_dilations()?;
            let kernel = pair(attr_ints(spec, "kernel_shape")?, 0)?;
            ensure!(kernel.0 > 0 && kernel.1 > 0, "Conv needs kernel_shape");
            let group = attr_int(spec, "group", 1)?;
            ensure!(group >= 1, "group {group}");
            Op::Conv {
                kernel,
                stride: pair(attr_ints(spec, "strides")?, 1)?,
                pads: pads4(attr_ints(spec, "pads")?)?,
                group: group as usize,
                then: Vec::new(),
            }
        }
        "ConvTranspose" => {
            no_auto_pad()?;
            unit_dilations()?;
            let kernel = pair(attr_ints(spec, "kernel_shape")?, 0)?;
            let stride = pair(attr_ints(spec, "strides")?, 1)?;
            ensure!(attr_int(spec, "group", 1)? == 1, "grouped ConvTranspose is not supported");
            ensure!(pads4(attr_ints(spec, "pads")?)? == [0; 4], "padded ConvTranspose is not supported");
            ensure!(attr_ints(spec, "output_padding")?.is_none_or(|p| p.iter().all(|v| *v == 0)), "output_padding is not supported");
            ensure!(
                kernel == stride && kernel.0 > 0,
                "ConvTranspose is supported when kernel = stride (no overlap), got {kernel:?}/{stride:?}"
            );
            Op::ConvTranspose { kernel, then: Vec::new() }
        }
        "BatchNormalization" => Op::BatchNorm { eps: attr_float(spec, "epsilon")?.unwrap_or(1e-5) },
        "Add" => Op::Binary(Binary::Add),
        "Sub" => Op::Binary(Binary::Sub),
        "Mul" => Op::Binary(Binary::Mul),
        "Div" => Op::Binary(Binary::Div),
        "Pow" => Op::Binary(Binary::Pow),
        "Clip" => Op::Clip { min: attr_float(spec, "min")?.map(|v| v as f32), max: attr_float(spec, "max")?.map(|v| v as f32) },
        "Relu" => Op::Relu,
        "Sigmoid" => Op::Sigmoid,
        "HardSigmoid" => {
            Op::HardSigmoid { alpha: attr_float(spec, "alpha")?.unwrap_or(0.2), beta: attr_float(spec, "beta")?.unwrap_or(0.5) }
        }
        "Sqrt" => Op::Sqrt,
        "Identity" | "Dropout" => Op::Identity,
        "GlobalAveragePool" => Op::GlobalAveragePool,
        "Resize" | "Upsample" => {
            let mode = attr_str(spec, "mode", "nearest")?;
            ensure!(mode == "nearest", "Resize mode {mode} is not supported");
            let ctm = attr_str(spec, "coordinate_transformation_mode", "half_pixel")?;
            let nearest = attr_str(spec, "nearest_mode", "round_prefer_floor")?;
            // candle's nearest upsampling takes floor(dst · src/dst): ONNX's asymmetric + floor.
            ensure!(ctm == "asymmetric" && nearest == "floor", "Resize {ctm}/{nearest} is not supported");
            Op::ResizeNearest
        }
        "Concat" => Op::Concat { axis: attr_int(spec, "axis", 0)? },
        "AveragePool" | "MaxPool" => {
            no_auto_pad()?;
            ensure!(attr_int(spec, "ceil_mode", 0)? == 0, "ceil_mode is not supported");
            ensure!(pads4(attr_ints(spec, "pads")?)? == [0; 4], "padded pooling is not supported");
            let kernel = pair(attr_ints(spec, "kernel_shape")?, 0)?;
            let stride = pair(attr_ints(spec, "strides")?, 1)?;
            if spec.op == "MaxPool" {
                Op::MaxPool { kernel, stride }
            } else {
                Op::AveragePool { kernel, stride }
            }
        }
        "Shape" => Op::Shape,
        "Cast" => {
            let to = attr_int(spec, "to", 0)?;
            // TensorProto.DataType: 1 FLOAT, 6 INT32, 7 INT64
            ensure!(matches!(to, 1 | 6 | 7), "Cast to type {to} is not supported");
            Op::Cast { to_float: to == 1 }
        }
        "Slice" => Op::Slice,
        "Reshape" => {
            ensure!(attr_int(spec, "allowzero", 0)? == 0, "Reshape allowzero is not supported");
            Op::Reshape
        }
        "Transpose" => {
            let perm = attr_ints(spec, "perm")?.ok_or_else(|| anyhow!("Transpose needs perm"))?;
            ensure!(perm.iter().all(|p| *p >= 0), "negative perm");
            Op::Transpose { perm: perm.into_iter().map(|p| p as usize).collect() }
        }
        "ReduceMean" => Op::ReduceMean { axes: attr_ints(spec, "axes")?, keepdims: attr_int(spec, "keepdims", 1)? != 0 },
        "MatMul" => Op::MatMul,
        "Squeeze" => Op::Squeeze { axes: attr_ints(spec, "axes")? },
        "Unsqueeze" => Op::Unsqueeze { axes: attr_ints(spec, "axes")? },
        "Softmax" => Op::Softmax { axis: attr_int(spec, "axis", -1)? },
        "Flatten" => Op::Flatten { axis: attr_int(spec, "axis", 1)? },
        "Gather" => Op::Gather { axis: attr_int(spec, "axis", 0)? },
        other => bail!("operator {other} is not supported"),
    };
    Ok(op)
}

fn float<'a>(args: &[Option<&'a Value>], i: usize) -> Result<&'a Tensor> {
    match args.get(i).copied().flatten() {
        Some(Value::F(t)) => Ok(t),
        Some(Value::I(_)) => bail!("input {i} is an integer tensor, expected floats"),
        None => bail!("input {i} is missing"),
    }
}

fn ints<'a>(args: &[Option<&'a Value>], i: usize) -> Result<Option<&'a Ints>> {
    match args.get(i).copied().flatten() {
        Some(Value::I(v)) => Ok(Some(v)),
        Some(Value::F(_)) => bail!("input {i} is a float tensor, expected integers"),
        None => Ok(None),
    }
}

fn to_float(value: &Value) -> Result<Tensor> {
    match value {
        Value::F(t) => Ok(t.clone()),
        Value::I(v) => Ok(Tensor::from_vec(v.data.iter().map(|x| *x as f32).collect::<Vec<_>>(), v.shape.clone(), &Device::Cpu)?),
    }
}

fn axis(axis: i64, rank: usize) -> Result<usize> {
    let a = if axis < 0 { axis + rank as i64 } else { axis };
    ensure!((0..rank as i64).contains(&a), "axis {axis} out of range for rank {rank}");
    Ok(a as usize)
}

fn scalar_of(t: &Tensor) -> Option<f32> {
    (t.elem_count() == 1).then(|| t.flatten_all().ok()?.to_vec1::<f32>().ok()?.first().copied()).flatten()
}

fn eval(op: &Op, args: &[Option<&Value>]) -> Result<Vec<Value>> {
    let one = |t: Tensor| Ok(vec![Value::F(t)]);
    match op {
        Op::Conv { kernel, stride, pads, group, then } => {
            let shape = ConvShape { kernel: *kernel, stride: *stride, pads: *pads, group: *group };
            one(conv(float(args, 0)?, float(args, 1)?, args.get(2).copied().flatten(), shape, then)?)
        }
        Op::ConvTranspose { kernel, then } => {
            one(conv_transpose(float(args, 0)?, float(args, 1)?, args.get(2).copied().flatten(), *kernel, then)?)
        }
        Op::BatchNorm { eps } => {
            let x = float(args, 0)?;
            let c = x.dim(1)?;
            let (gamma, beta, mean, var) = (float(args, 1)?, float(args, 2)?, float(args, 3)?, float(args, 4)?);
            let scale = gamma.div(&var.affine(1.0, *eps)?.sqrt()?)?;
            let shift = beta.sub(&mean.mul(&scale)?)?;
            let mut shape = vec![1; x.rank()];
            shape[1] = c;
            one(x.broadcast_mul(&scale.reshape(shape.clone())?)?.broadcast_add(&shift.reshape(shape)?)?)
        }
        Op::Binary(kind) => binary(*kind, args),
        Op::Clip { min, max } => {
            let x = float(args, 0)?;
            let bound = |i: usize, attr: Option<f32>| -> Result<Option<f32>> {
                match args.get(i).copied().flatten() {
                    Some(v) => Ok(Some(scalar_of(&to_float(v)?).ok_or_else(|| anyhow!("Clip bound is not a scalar"))?)),
                    None => Ok(attr),
                }
            };
            let mut y = x.clone();
            if let Some(lo) = bound(1, *min)? {
                y = y.maximum(lo)?;
            }
            if let Some(hi) = bound(2, *max)? {
                y = y.minimum(hi)?;
            }
            one(y)
        }
        Op::Fused { steps } => {
            let x = float(args, 0)?;
            let out = with_slice(x, |data| crate::fuse::run(steps, data))?;
            one(Tensor::from_vec(out, x.dims(), &Device::Cpu)?)
        }
        Op::Relu => one(float(args, 0)?.relu()?),
        Op::Sigmoid => one(sigmoid(float(args, 0)?)?),
        Op::HardSigmoid { alpha, beta } => one(float(args, 0)?.affine(*alpha, *beta)?.maximum(0f32)?.minimum(1f32)?),
        Op::Sqrt => one(float(args, 0)?.sqrt()?),
        Op::Identity => Ok(vec![args.first().copied().flatten().ok_or_else(|| anyhow!("input missing"))?.clone()]),
        Op::GlobalAveragePool => one(float(args, 0)?.mean_keepdim(vec![2, 3])?),
        Op::ResizeNearest => {
            let x = float(args, 0)?;
            let (n, c, h, w) = x.dims4()?;
            let (th, tw) = if let Some(sizes) = ints(args, 3)? {
                ensure!(sizes.data.len() == 4, "Resize sizes {:?}", sizes.data);
                (sizes.data[2] as usize, sizes.data[3] as usize)
            } else {
                let scales = to_float(args.get(2).copied().flatten().ok_or_else(|| anyhow!("Resize needs scales or sizes"))?)?
                    .flatten_all()?
                    .to_vec1::<f32>()?;
                ensure!(scales.len() == 4 && scales[0] == 1.0 && scales[1] == 1.0, "Resize scales {scales:?}");
                ((h as f32 * scales[2]).floor() as usize, (w as f32 * scales[3]).floor() as usize)
            };
            let out = with_slice(x, |data| crate::kernels::upsample_nearest(data, (h, w), (th, tw)))?
                .ok_or_else(|| anyhow!("Resize of {:?}", x.dims()))?;
            one(Tensor::from_vec(out, (n, c, th, tw), &Device::Cpu)?)
        }
        Op::Concat { axis: a } => {
            let values: Vec<&Value> = args.iter().map(|v| v.ok_or_else(|| anyhow!("Concat input missing"))).collect::<Result<_>>()?;
            if values.iter().all(|v| matches!(v, Value::I(_))) {
                let mut data = Vec::new();
                for v in &values {
                    let Value::I(i) = v else { unreachable!() };
                    ensure!(i.shape.len() <= 1, "Concat of integer tensors of rank {}", i.shape.len());
                    data.extend_from_slice(&i.data);
                }
                return Ok(vec![Value::I(Ints::vector(data))]);
            }
            let tensors: Vec<Tensor> = values.iter().map(|v| to_float(v)).collect::<Result<_>>()?;
            let rank = tensors[0].rank();
            one(Tensor::cat(&tensors, axis(*a, rank)?)?)
        }
        Op::AveragePool { kernel, stride } => one(float(args, 0)?.avg_pool2d_with_stride(*kernel, *stride)?),
        Op::MaxPool { kernel, stride } => one(float(args, 0)?.max_pool2d_with_stride(*kernel, *stride)?),
        Op::Shape => {
            let dims = match args.first().copied().flatten() {
                Some(Value::F(t)) => t.dims().to_vec(),
                Some(Value::I(i)) => i.shape.clone(),
                None => bail!("Shape input missing"),
            };
            Ok(vec![Value::I(Ints::vector(dims.into_iter().map(|d| d as i64).collect()))])
        }
        Op::Cast { to_float: true } => one(to_float(args.first().copied().flatten().ok_or_else(|| anyhow!("Cast input missing"))?)?),
        Op::Cast { to_float: false } => match args.first().copied().flatten() {
            Some(Value::I(i)) => Ok(vec![Value::I(i.clone())]),
            Some(Value::F(t)) => Ok(vec![Value::I(Ints {
                shape: t.dims().to_vec(),
                data: t.flatten_all()?.to_vec1::<f32>()?.into_iter().map(|x| x.trunc() as i64).collect(),
            })]),
            None => bail!("Cast input missing"),
        },
        Op::Slice => slice(args),
        Op::Reshape => {
            let target = ints(args, 1)?.ok_or_else(|| anyhow!("Reshape needs a shape"))?;
            match args.first().copied().flatten() {
                Some(Value::F(t)) => {
                    let dims = reshape_dims(t.dims(), &target.data)?;
                    one(t.reshape(dims)?)
                }
                Some(Value::I(i)) => {
                    let dims = reshape_dims(&i.shape, &target.data)?;
                    Ok(vec![Value::I(Ints { shape: dims, data: i.data.clone() })])
                }
                None => bail!("Reshape input missing"),
            }
        }
        Op::Transpose { perm } => one(float(args, 0)?.permute(perm.clone())?.contiguous()?),
        Op::ReduceMean { axes, keepdims } => {
            let x = float(args, 0)?;
            let axes = match (axes, ints(args, 1)?) {
                (Some(a), _) => a.clone(),
                (None, Some(i)) => i.data.clone(),
                (None, None) => (0..x.rank() as i64).collect(),
            };
            let mut dims: Vec<usize> = axes.iter().map(|a| axis(*a, x.rank())).collect::<Result<_>>()?;
            dims.sort_unstable();
            dims.dedup();
            let mut y = x.mean_keepdim(dims.clone())?;
            if !keepdims {
                for d in dims.iter().rev() {
                    y = y.squeeze(*d)?;
                }
            }
            one(y)
        }
        Op::MatMul => {
            let (a, b) = (float(args, 0)?, float(args, 1)?);
            one(a.contiguous()?.broadcast_matmul(&b.contiguous()?)?)
        }
        Op::Squeeze { axes } => {
            let x = float(args, 0)?;
            let axes = match (axes, ints(args, 1)?) {
                (Some(a), _) => a.clone(),
                (None, Some(i)) => i.data.clone(),
                (None, None) => x.dims().iter().enumerate().filter(|(_, d)| **d == 1).map(|(i, _)| i as i64).collect(),
            };
            let mut dims: Vec<usize> = axes.iter().map(|a| axis(*a, x.rank())).collect::<Result<_>>()?;
            dims.sort_unstable();
            let mut y = x.clone();
            for d in dims.iter().rev() {
                ensure!(y.dim(*d)? == 1, "Squeeze of axis {d} of size {}", y.dim(*d)?);
                y = y.squeeze(*d)?;
            }
            one(y)
        }
        Op::Unsqueeze { axes } => {
            let x = float(args, 0)?;
            let axes = match (axes, ints(args, 1)?) {
                (Some(a), _) => a.clone(),
                (None, Some(i)) => i.data.clone(),
                (None, None) => bail!("Unsqueeze needs axes"),
            };
            let out_rank = x.rank() + axes.len();
            let mut dims: Vec<usize> = axes.iter().map(|a| axis(*a, out_rank)).collect::<Result<_>>()?;
            dims.sort_unstable();
            let mut y = x.clone();
            for d in dims {
                y = y.unsqueeze(d)?;
            }
            one(y)
        }
        Op::Softmax { axis: a } => {
            let x = float(args, 0)?;
            let d = axis(*a, x.rank())?;
            if d + 1 == x.rank() {
                let row = x.dim(d)?;
                let out = with_slice(x, |data| crate::kernels::softmax_rows(data, row))?;
                return one(Tensor::from_vec(out, x.dims(), &Device::Cpu)?);
            }
            let shifted = x.broadcast_sub(&x.max_keepdim(d)?)?.exp()?;
            one(shifted.broadcast_div(&shifted.sum_keepdim(d)?)?)
        }
        Op::Flatten { axis: a } => {
            let x = float(args, 0)?;
            let d = if *a == x.rank() as i64 { x.rank() } else { axis(*a, x.rank())? };
            let outer: usize = x.dims()[..d].iter().product();
            let inner: usize = x.dims()[d..].iter().product();
            one(x.reshape((outer, inner))?)
        }
        Op::Gather { axis: a } => {
            let index = ints(args, 1)?.ok_or_else(|| anyhow!("Gather needs indices"))?;
            match args.first().copied().flatten() {
                Some(Value::F(t)) => {
                    let d = axis(*a, t.rank())?;
                    let size = t.dim(d)? as i64;
                    let idx: Vec<u32> = index.data.iter().map(|i| (if *i < 0 { i + size } else { *i }) as u32).collect();
                    let picked = t.index_select(&Tensor::new(idx.as_slice(), &Device::Cpu)?, d)?;
                    one(if index.shape.is_empty() { picked.squeeze(d)? } else { picked })
                }
                Some(Value::I(v)) => {
                    ensure!(v.shape.len() == 1 && index.shape.len() <= 1, "Gather on integer tensors of rank {}", v.shape.len());
                    let n = v.data.len() as i64;
                    let data: Vec<i64> = index
                        .data
                        .iter()
                        .map(|i| {
                            v.data
                                .get((if *i < 0 { i + n } else { *i }) as usize)
                                .copied()
                                .ok_or_else(|| anyhow!("Gather index {i} out of range"))
                        })
                        .collect::<Result<_>>()?;
                    Ok(vec![Value::I(Ints { shape: index.shape.clone(), data })])
                }
                None => bail!("Gather input missing"),
            }
        }
    }
}

/// Borrow a tensor's f32 data as one contiguous slice (copying only if it is not contiguous).
fn with_slice<T>(t: &Tensor, f: impl FnOnce(&[f32]) -> T) -> Result<T> {
    let t = if t.is_contiguous() { t.clone() } else { t.contiguous()? };
    let (storage, layout) = t.storage_and_layout();
    match &*storage {
        candle_core::Storage::Cpu(cpu) => {
            let all = cpu.as_slice::<f32>()?;
            let start = layout.start_offset();
            Ok(f(&all[start..start + t.elem_count()]))
        }
        _ => bail!("only CPU tensors are supported"),
    }
}

fn sigmoid(x: &Tensor) -> Result<Tensor> {
    Ok(x.neg()?.exp()?.affine(1.0, 1.0)?.recip()?)
}

fn binary(kind: Binary, args: &[Option<&Value>]) -> Result<Vec<Value>> {
    let (a, b) = match (args.first().copied().flatten(), args.get(1).copied().flatten()) {
        (Some(a), Some(b)) => (a, b),
        _ => bail!("{kind:?} needs two inputs"),
    };
    if let (Value::I(x), Value::I(y)) = (a, b) {
        // Shape arithmetic: elementwise with a scalar broadcast.
        let len = x.data.len().max(y.data.len());
        ensure!(x.data.len() == len || x.data.len() == 1, "integer {kind:?} of lengths {} and {}", x.data.len(), y.data.len());
        ensure!(y.data.len() == len || y.data.len() == 1, "integer {kind:?} of lengths {} and {}", x.data.len(), y.data.len());
        let shape = if x.data.len() == len { x.shape.clone() } else { y.shape.clone() };
        let data = (0..len)
            .map(|i| {
                let (p, q) = (x.data[i.min(x.data.len() - 1)], y.data[i.min(y.data.len() - 1)]);
                match kind {
                    Binary::Add => Ok(p + q),
                    Binary::Sub => Ok(p - q),
                    Binary::Mul => Ok(p * q),
                    Binary::Div if q != 0 => Ok(p.div_euclid(q)),
                    Binary::Pow if q >= 0 => Ok(p.pow(q as u32)),
                    _ => bail!("integer {kind:?} of {p} and {q}"),
                }
            })
            .collect::<Result<_>>()?;
        return Ok(vec![Value::I(Ints { shape, data })]);
    }
    let (x, y) = (to_float(a)?, to_float(b)?);
    // A scalar operand (hard-swish's +3 and /6, a layer scale) is one affine pass, and equal shapes
    // need no broadcasting: both much faster than candle's general broadcast path.
    if kind != Binary::Pow {
        if let Some(c) = scalar_of(&y).filter(|_| x.elem_count() > 1) {
            let c = c as f64;
            return Ok(vec![Value::F(match kind {
                Binary::Add => x.affine(1.0, c)?,
                Binary::Sub => x.affine(1.0, -c)?,
                Binary::Mul => x.affine(c, 0.0)?,
                _ => x.affine(1.0 / c, 0.0)?,
            })]);
        }
        if let Some(c) = scalar_of(&x).filter(|_| y.elem_count() > 1) {
            let c = c as f64;
            return Ok(vec![Value::F(match kind {
                Binary::Add => y.affine(1.0, c)?,
                Binary::Sub => y.affine(-1.0, c)?,
                Binary::Mul => y.affine(c, 0.0)?,
                _ => y.recip()?.affine(c, 0.0)?,
            })]);
        }
        if x.dims() == y.dims() {
            return Ok(vec![Value::F(match kind {
                Binary::Add => (&x + &y)?,
                Binary::Sub => (&x - &y)?,
                Binary::Mul => (&x * &y)?,
                _ => (&x / &y)?,
            })]);
        }
        // One value per channel against whole planes: a squeeze-and-excitation scale.
        if let Some(out) = per_channel(kind, &x, &y)? {
            return Ok(vec![Value::F(out)]);
        }
    }
    let out = match kind {
        Binary::Add => x.broadcast_add(&y)?,
        Binary::Sub => x.broadcast_sub(&y)?,
        Binary::Mul => x.broadcast_mul(&y)?,
        Binary::Div => x.broadcast_div(&y)?,
        Binary::Pow => match scalar_of(&y) {
            Some(2.0) => x.sqr()?,
            Some(e) => x.powf(e as f64)?,
            None => bail!("Pow with a tensor exponent is not supported"),
        },
    };
    Ok(vec![Value::F(out)])
}

/// Planes up to this many values take [`per_channel`]; candle's broadcast, which streams the
/// large planes once where this copies them first, is faster above it (measured: recognition's
/// per-channel operations 100 -> 30 ms with it, the detector's 75 -> 125 ms without the limit).
const SMALL_PLANE: usize = 4096;

/// `x ∘ y` when one operand is `[n, c, h, w]` with small planes and the other `[n, c, 1, 1]` or
/// `[1, c, 1, 1]`: each plane with its channel's value, planes in parallel (candle's broadcast
/// has a cost per plane that dominates when planes are small). `None` for any other pair.
fn per_channel(kind: Binary, x: &Tensor, y: &Tensor) -> Result<Option<Tensor>> {
    let scales = |full: &[usize], one: &[usize]| {
        full.len() == 4 && one.len() == 4 && one[2] == 1 && one[3] == 1 && one[1] == full[1] && (one[0] == 1 || one[0] == full[0])
    };
    if kind == Binary::Pow {
        return Ok(None);
    }
    let (planes, values, values_first) = if scales(x.dims(), y.dims()) {
        (x, y, false)
    } else if scales(y.dims(), x.dims()) {
        (y, x, true)
    } else {
        return Ok(None);
    };
    let dims = planes.dims().to_vec();
    let (channels, plane_len) = (dims[1], dims[2] * dims[3]);
    if plane_len > SMALL_PLANE {
        return Ok(None);
    }
    let values = with_slice(values, <[f32]>::to_vec)?;
    let mut out = with_slice(planes, <[f32]>::to_vec)?;
    if plane_len > 0 {
        out.par_chunks_mut(plane_len).enumerate().for_each(|(p, plane)| {
            let v = values[p % values.len()];
            match (kind, values_first) {
                (Binary::Add, _) => plane.iter_mut().for_each(|e| *e += v),
                (Binary::Mul, _) => plane.iter_mut().for_each(|e| *e *= v),
                (Binary::Sub, false) => plane.iter_mut().for_each(|e| *e -= v),
                (Binary::Sub, true) => plane.iter_mut().for_each(|e| *e = v - *e),
                (Binary::Div, false) => plane.iter_mut().for_each(|e| *e /= v),
                (Binary::Div, true) => plane.iter_mut().for_each(|e| *e = v / *e),
                (Binary::Pow, _) => {}
            }
        });
    }
    debug_assert!(values.len() == channels || values.len() == channels * dims[0]);
    Ok(Some(Tensor::from_vec(out, dims, &Device::Cpu)?))
}

fn reshape_dims(from: &[usize], target: &[i64]) -> Result<Vec<usize>> {
    let total: usize = from.iter().product();
    let mut dims = Vec::with_capacity(target.len());
    let mut infer = None;
    for (i, t) in target.iter().enumerate() {
        match *t {
            0 => dims.push(*from.get(i).ok_or_else(|| anyhow!("Reshape copies dimension {i} of a rank-{} tensor", from.len()))?),
            -1 => {
                ensure!(infer.is_none(), "Reshape with two -1");
                infer = Some(i);
                dims.push(1);
            }
            d if d > 0 => dims.push(d as usize),
            d => bail!("Reshape dimension {d}"),
        }
    }
    let known: usize = dims.iter().product();
    if let Some(i) = infer {
        ensure!(known > 0 && total.is_multiple_of(known), "Reshape of {from:?} to {target:?}");
        dims[i] = total / known;
    }
    ensure!(dims.iter().product::<usize>() == total, "Reshape of {from:?} to {target:?}");
    Ok(dims)
}

fn slice(args: &[Option<&Value>]) -> Result<Vec<Value>> {
    let starts = ints(args, 1)?.ok_or_else(|| anyhow!("Slice needs starts"))?;
    let ends = ints(args, 2)?.ok_or_else(|| anyhow!("Slice needs ends"))?;
    let dims = match args.first().copied().flatten() {
        Some(Value::F(t)) => t.dims().to_vec(),
        Some(Value::I(i)) => i.shape.clone(),
        None => bail!("Slice input missing"),
    };
    let axes: Vec<usize> = match ints(args, 3)? {
        Some(a) => a.data.iter().map(|x| axis(*x, dims.len())).collect::<Result<_>>()?,
        None => (0..starts.data.len()).collect(),
    };
    let steps: Vec<i64> = ints(args, 4)?.map(|s| s.data.clone()).unwrap_or_else(|| vec![1; axes.len()]);
    ensure!(starts.data.len() == axes.len() && ends.data.len() == axes.len() && steps.len() == axes.len(), "Slice argument lengths differ");
    // (axis, start, count, step) after ONNX's clamping of out-of-range starts and ends
    let mut ranges = Vec::new();
    for (k, &ax) in axes.iter().enumerate() {
        let size = dims[ax] as i64;
        let step = steps[k];
        ensure!(step > 0, "Slice step {step} is not supported");
        let norm = |v: i64| if v < 0 { (v + size).max(0) } else { v.min(size) };
        let (start, end) = (norm(starts.data[k]), norm(ends.data[k]));
        let count = if end > start { ((end - start) + step - 1) / step } else { 0 };
        ranges.push((ax, start as usize, count as usize, step as usize));
    }
    match args.first().copied().flatten() {
        Some(Value::F(t)) => {
            let mut y = t.clone();
            for (ax, start, count, step) in ranges {
                y = if step == 1 {
                    y.narrow(ax, start, count)?
                } else {
                    let idx: Vec<u32> = (0..count).map(|i| (start + i * step) as u32).collect();
                    y.index_select(&Tensor::new(idx.as_slice(), &Device::Cpu)?, ax)?
                };
            }
            Ok(vec![Value::F(y)])
        }
        Some(Value::I(v)) => {
            ensure!(v.shape.len() == 1, "Slice of an integer tensor of rank {}", v.shape.len());
            let (_, start, count, step) = ranges[0];
            Ok(vec![Value::I(Ints::vector((0..count).map(|i| v.data[start + i * step]).collect()))])
        }
        None => bail!("Slice input missing"),
    }
}

#[cfg(test)]
mod tests {
    use super::conv::conv_shifted;
    use super::*;

    fn node(op: &str, inputs: &[&str], outputs: &[&str], attrs: serde_json::Value) -> serde_json::Value {
        serde_json::json!({"op": op, "inputs": inputs, "outputs": outputs, "attrs": attrs})
    }

    fn graph(nodes: Vec<serde_json::Value>, tensors: Vec<(&str, Tensor)>) -> Result<Graph> {
        let file: GraphFile = serde_json::from_value(serde_json::json!({
            "format": FORMAT, "inputs": [{"name": "x"}], "outputs": ["y"], "nodes": nodes
        }))?;
        Graph::from_parts("test".into(), file, tensors.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    #[test]
    fn unknown_operators_and_attributes_fail_at_load_not_at_run() {
        let err = graph(vec![node("LSTM", &["x"], &["y"], serde_json::json!({}))], vec![]).unwrap_err();
        assert!(format!("{err:#}").contains("LSTM is not supported"), "{err:#}");
        let err = graph(vec![node("Resize", &["x"], &["y"], serde_json::json!({"mode": "linear"}))], vec![]).unwrap_err();
        assert!(format!("{err:#}").contains("linear"), "{err:#}");
        let err = graph(vec![node("Relu", &["nowhere"], &["y"], serde_json::json!({}))], vec![]).unwrap_err();
        assert!(format!("{err:#}").contains("not defined"), "{err:#}");
    }

    #[test]
    fn depthwise_and_dense_convolutions_agree_with_candle_reference() -> Result<()> {
        // A depthwise conv computed by the kernel equals candle's grouped conv on the same data.
        let x = Tensor::arange(0f32, 2.0 * 4.0 * 6.0 * 7.0, &Device::Cpu)?.reshape((2, 4, 6, 7))?.affine(0.01, -1.0)?;
        let w = Tensor::arange(0f32, 4.0 * 9.0, &Device::Cpu)?.reshape((4, 1, 3, 3))?.affine(0.05, -0.5)?;
        let g = graph(
            vec![node(
                "Conv",
                &["x", "w"],
                &["y"],
                serde_json::json!({"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "strides": [2, 2], "group": 4}),
            )],
            vec![("w", w.clone())],
        )?;
        let got = g.run(x.clone())?.remove(0);
        let want = x.conv2d(&w, 1, 2, 1, 4)?;
        let diff = got.sub(&want)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-4, "max difference {diff}");
        Ok(())
    }

    #[test]
    fn strided_dense_convolutions_by_columns_match_candle_with_their_bias_and_activation() -> Result<()> {
        // A first layer: three channels, 3x3, stride 2, on odd sizes; then (2, 1) with uneven padding.
        let dev = &Device::Cpu;
        let x = Tensor::arange(0f32, 2.0 * 3.0 * 9.0 * 11.0, dev)?.reshape((2, 3, 9, 11))?.affine(0.017, -1.0)?.sin()?;
        let w = Tensor::arange(0f32, 5.0 * 3.0 * 9.0, dev)?.reshape((5, 3, 3, 3))?.affine(0.031, -0.7)?.cos()?;
        let b = Tensor::new(&[0.1f32, -0.2, 0.3, -0.4, 0.5], dev)?;
        for (strides, pads) in [([2, 2], [1, 1, 1, 1]), ([2, 1], [0, 1, 2, 1])] {
            let g = graph(
                vec![
                    node("Conv", &["x", "w", "b"], &["c"], serde_json::json!({"kernel_shape": [3, 3], "pads": pads, "strides": strides})),
                    node("Relu", &["c"], &["y"], serde_json::json!({})),
                ],
                vec![("w", w.clone()), ("b", b.clone())],
            )?;
            assert_eq!(g.nodes.len(), 1, "the activation runs as the convolution's epilogue");
            let got = g.run(x.clone())?.remove(0);
            let padded = x.pad_with_zeros(2, pads[0], pads[2])?.pad_with_zeros(3, pads[1], pads[3])?;
            let dense = padded.conv2d(&w, 0, 1, 1, 1)?;
            let pick = |len: usize, step: usize| Tensor::new((0..len as u32).step_by(step).collect::<Vec<_>>().as_slice(), dev);
            let (dh, dw) = (dense.dim(2)?, dense.dim(3)?);
            let strided = dense.index_select(&pick(dh, strides[0])?, 2)?.index_select(&pick(dw, strides[1])?, 3)?;
            let want = strided.broadcast_add(&b.reshape((1, 5, 1, 1))?)?.relu()?;
            assert_eq!(got.dims(), want.dims(), "{strides:?} {pads:?}");
            let diff = got.sub(&want)?.abs()?.max_all()?.to_scalar::<f32>()?;
            assert!(diff < 1e-4, "{strides:?} {pads:?}: max difference {diff}");
        }
        Ok(())
    }

    #[test]
    fn dense_convolutions_by_taps_match_candle_for_odd_sizes_and_uneven_padding() -> Result<()> {
        let x = Tensor::arange(0f32, 2.0 * 5.0 * 7.0 * 9.0, &Device::Cpu)?.reshape((2, 5, 7, 9))?.affine(0.013, -1.0)?.sin()?;
        let w = Tensor::arange(0f32, 4.0 * 5.0 * 9.0, &Device::Cpu)?.reshape((4, 5, 3, 3))?.affine(0.021, -0.9)?.cos()?;
        let shifted = |w: &Tensor, pads: [usize; 4]| -> Result<Tensor> {
            let (out, oh, ow) = conv_shifted(&x, w, pads)?;
            Ok(Tensor::from_vec(out, (2, w.dim(0)?, oh, ow), &Device::Cpu)?)
        };
        let got = shifted(&w, [1; 4])?;
        let want = x.conv2d(&w, 1, 1, 1, 1)?;
        let diff = got.sub(&want)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-4, "max difference {diff}");
        // (1,3) kernel padded only left and right, as PP-OCR's recogniser has.
        let w13 = w.narrow(2, 1, 1)?.contiguous()?;
        let got = shifted(&w13, [0, 1, 0, 1])?;
        let want = x.pad_with_zeros(3, 1, 1)?.conv2d(&w13, 0, 1, 1, 1)?;
        assert_eq!(got.dims(), want.dims());
        let diff = got.sub(&want)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-4, "max difference {diff}");
        Ok(())
    }

    #[test]
    fn conv_transpose_with_kernel_equal_to_stride_matches_candle() -> Result<()> {
        let x = Tensor::arange(0f32, 3.0 * 4.0 * 5.0, &Device::Cpu)?.reshape((1, 3, 4, 5))?.affine(0.1, -2.0)?;
        let w = Tensor::arange(0f32, 3.0 * 2.0 * 4.0, &Device::Cpu)?.reshape((3, 2, 2, 2))?.affine(0.1, -1.0)?;
        let g = graph(
            vec![node("ConvTranspose", &["x", "w"], &["y"], serde_json::json!({"kernel_shape": [2, 2], "strides": [2, 2]}))],
            vec![("w", w.clone())],
        )?;
        let got = g.run(x.clone())?.remove(0);
        let want = x.conv_transpose2d(&w, 0, 0, 2, 1)?;
        assert_eq!(got.dims(), want.dims());
        let diff = got.sub(&want)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-4, "max difference {diff}");
        Ok(())
    }

    #[test]
    fn a_bias_add_batch_norm_and_relu_after_a_transposed_convolution_fold_into_it_and_compute_the_same() -> Result<()> {
        // The detector head's tail: ConvTranspose, Add of a [1, c, 1, 1] bias, BatchNormalization, Relu.
        let dev = &Device::Cpu;
        let x = Tensor::arange(0f32, 2.0 * 3.0 * 4.0 * 5.0, dev)?.reshape((2, 3, 4, 5))?.affine(0.07, -2.0)?;
        let w = Tensor::arange(0f32, 3.0 * 2.0 * 4.0, dev)?.reshape((3, 2, 2, 2))?.affine(0.1, -1.1)?;
        let bias = Tensor::new(&[0.3f32, -0.2], dev)?.reshape((1, 2, 1, 1))?;
        let (gamma, beta) = (Tensor::new(&[1.5f32, 0.5], dev)?, Tensor::new(&[0.1f32, -0.4], dev)?);
        let (mean, var) = (Tensor::new(&[0.2f32, -0.3], dev)?, Tensor::new(&[2.0f32, 0.25], dev)?);
        let g = graph(
            vec![
                node("ConvTranspose", &["x", "w"], &["t"], serde_json::json!({"kernel_shape": [2, 2], "strides": [2, 2]})),
                node("Add", &["t", "b"], &["u"], serde_json::json!({})),
                node("BatchNormalization", &["u", "gamma", "beta", "mean", "var"], &["v"], serde_json::json!({"epsilon": 1e-5})),
                node("Relu", &["v"], &["y"], serde_json::json!({})),
            ],
            vec![
                ("w", w.clone()),
                ("b", bias.clone()),
                ("gamma", gamma.clone()),
                ("beta", beta.clone()),
                ("mean", mean.clone()),
                ("var", var.clone()),
            ],
        )?;
        assert_eq!(g.nodes.len(), 1, "{:?}", g.nodes.iter().map(|n| &n.name).collect::<Vec<_>>());
        let got = g.run(x.clone())?.remove(0);
        let per_channel = |t: &Tensor| t.reshape((1, 2, 1, 1));
        let normalised = x
            .conv_transpose2d(&w, 0, 0, 2, 1)?
            .broadcast_add(&bias)?
            .broadcast_sub(&per_channel(&mean)?)?
            .broadcast_div(&per_channel(&var.affine(1.0, 1e-5)?.sqrt()?)?)?
            .broadcast_mul(&per_channel(&gamma)?)?
            .broadcast_add(&per_channel(&beta)?)?;
        let want = normalised.relu()?;
        assert_eq!(got.dims(), want.dims());
        let diff = got.sub(&want)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-4, "max difference {diff}");
        // A bias along the last axis is not per channel: it stays a node of its own.
        let last_axis = graph(
            vec![
                node("ConvTranspose", &["x", "w"], &["t"], serde_json::json!({"kernel_shape": [2, 2], "strides": [2, 2]})),
                node("Add", &["t", "b"], &["y"], serde_json::json!({})),
            ],
            vec![("w", w.clone()), ("b", Tensor::new(&[0.3f32, -0.2], dev)?)],
        )?;
        assert_eq!(last_axis.nodes.len(), 2);
        Ok(())
    }

    #[test]
    fn one_value_per_channel_against_whole_planes_matches_candles_broadcast_either_way_round() -> Result<()> {
        let dev = &Device::Cpu;
        let planes = Tensor::arange(0f32, 2.0 * 3.0 * 4.0 * 5.0, dev)?.reshape((2, 3, 4, 5))?.affine(0.1, 1.0)?;
        let large = Tensor::zeros((1, 3, 1, SMALL_PLANE + 1), DType::F32, dev)?;
        assert!(per_channel(Binary::Add, &large, &planes.narrow(0, 0, 1)?.narrow(2, 0, 1)?.narrow(3, 0, 1)?)?.is_none());
        for values in
            [Tensor::new(&[0.5f32, -2.0, 4.0], dev)?.reshape((1, 3, 1, 1))?, Tensor::arange(1f32, 7.0, dev)?.reshape((2, 3, 1, 1))?]
        {
            for kind in [Binary::Add, Binary::Sub, Binary::Mul, Binary::Div] {
                for (x, y) in [(&planes, &values), (&values, &planes)] {
                    let got = per_channel(kind, x, y)?.expect("a per-channel pair");
                    let want = match kind {
                        Binary::Add => x.broadcast_add(y)?,
                        Binary::Sub => x.broadcast_sub(y)?,
                        Binary::Mul => x.broadcast_mul(y)?,
                        _ => x.broadcast_div(y)?,
                    };
                    assert_eq!(got.dims(), want.dims());
                    let diff = got.sub(&want)?.abs()?.max_all()?.to_scalar::<f32>()?;
                    assert!(diff < 1e-5, "{kind:?} {:?} {:?}: {diff}", x.dims(), y.dims());
                }
            }
        }
        let other = Tensor::ones((2, 3, 4, 1), DType::F32, dev)?;
        assert!(per_channel(Binary::Add, &planes, &other)?.is_none(), "a broadcast along rows is not per channel");
        Ok(())
    }

    #[test]
    fn shape_arithmetic_reshapes_with_zero_and_minus_one() -> Result<()> {
        let g = graph(
            vec![
                node("Shape", &["x"], &["s"], serde_json::json!({})),
                node("Slice", &["s", "zero", "two"], &["nc"], serde_json::json!({})),
                node("Concat", &["nc", "minus_one"], &["target"], serde_json::json!({"axis": 0})),
                node("Reshape", &["x", "target"], &["r"], serde_json::json!({})),
                node("Transpose", &["r"], &["y"], serde_json::json!({"perm": [0, 2, 1]})),
            ],
            vec![
                ("zero", Tensor::new(&[0i64], &Device::Cpu)?),
                ("two", Tensor::new(&[2i64], &Device::Cpu)?),
                ("minus_one", Tensor::new(&[-1i64], &Device::Cpu)?),
            ],
        )?;
        let x = Tensor::arange(0f32, 24.0, &Device::Cpu)?.reshape((2, 3, 2, 2))?;
        let y = g.run(x)?.remove(0);
        assert_eq!(y.dims(), &[2, 4, 3]);
        assert_eq!(y.get(0)?.get(1)?.to_vec1::<f32>()?, vec![1.0, 5.0, 9.0]);
        Ok(())
    }
}
