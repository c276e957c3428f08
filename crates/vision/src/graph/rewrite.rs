//! Load-time rewrites of a graph: per-channel affines folded into the convolution before them,
//! runs of pointwise operators fused into one node, and a fused chain or lone activation given to
//! the convolution whose output only it reads, as that convolution's epilogue.

use std::collections::{HashMap, HashSet};

use anyhow::{anyhow, bail, ensure, Context, Result};
use candle_core::{Device, Tensor};

use super::{scalar_of, with_slice, Binary, Node, Op, Value};
use crate::fuse::Step;

/// Which values are integer tensors, judged from the graph alone: integer constants, shapes,
/// integer casts, and whatever shape arithmetic makes of them.
pub(super) fn integer_values(nodes: &[Node], constants: &HashMap<String, Value>) -> HashSet<String> {
    let mut ints: HashSet<String> = constants.iter().filter(|(_, v)| matches!(v, Value::I(_))).map(|(k, _)| k.clone()).collect();
    for node in nodes {
        let first_int = node.inputs.first().is_some_and(|i| ints.contains(i));
        let all_int = node.inputs.iter().filter(|i| !i.is_empty()).all(|i| ints.contains(i));
        let produces_int = match &node.op {
            Op::Shape | Op::Cast { to_float: false } => true,
            Op::Concat { .. } | Op::Binary(_) => all_int,
            Op::Slice | Op::Gather { .. } | Op::Reshape | Op::Squeeze { .. } | Op::Unsqueeze { .. } | Op::Identity => first_int,
            _ => false,
        };
        if produces_int {
            ints.extend(node.outputs.iter().cloned());
        }
    }
    ints
}

/// Replace runs of consecutive pointwise nodes on one float tensor with one fused node, when no
/// intermediate value of the run is used outside it.
pub(super) fn fuse_pointwise(nodes: Vec<Node>, constants: &HashMap<String, Value>, outputs: &[String]) -> Vec<Node> {
    let ints = integer_values(&nodes, constants);
    let mut uses: HashMap<&str, usize> = HashMap::new();
    for input in nodes.iter().flat_map(|n| n.inputs.iter()).chain(outputs) {
        *uses.entry(input.as_str()).or_default() += 1;
    }
    let scalar = |name: &str| match constants.get(name) {
        Some(Value::F(t)) => scalar_of(t),
        _ => None,
    };
    // The step a node would be, given the chain's registers so far.
    let step = |node: &Node, regs: &HashMap<String, usize>| -> Option<Step> {
        if node.outputs.len() != 1 {
            return None;
        }
        let reg = |i: usize| node.inputs.get(i).and_then(|n| regs.get(n)).copied();
        let konst = |i: usize| node.inputs.get(i).and_then(|n| scalar(n));
        match &node.op {
            Op::Binary(kind) => match (kind, reg(0), reg(1), konst(0), konst(1)) {
                (Binary::Mul, Some(a), Some(b), _, _) => Some(Step::Mul { a, b }),
                (Binary::Add, Some(a), Some(b), _, _) => Some(Step::Add { a, b }),
                (Binary::Mul, Some(src), _, _, Some(c)) | (Binary::Mul, _, Some(src), Some(c), _) => {
                    Some(Step::Affine { src, a: c, b: 0.0 })
                }
                (Binary::Add, Some(src), _, _, Some(c)) | (Binary::Add, _, Some(src), Some(c), _) => {
                    Some(Step::Affine { src, a: 1.0, b: c })
                }
                (Binary::Sub, Some(src), _, _, Some(c)) => Some(Step::Affine { src, a: 1.0, b: -c }),
                (Binary::Sub, _, Some(src), Some(c), _) => Some(Step::Affine { src, a: -1.0, b: c }),
                (Binary::Div, Some(src), _, _, Some(c)) if c != 0.0 => Some(Step::Affine { src, a: 1.0 / c, b: 0.0 }),
                _ => None,
            },
            Op::Clip { min, max } => {
                let src = reg(0)?;
                let bound = |i: usize, attr: Option<f32>| match node.inputs.get(i).filter(|n| !n.is_empty()) {
                    Some(n) => scalar(n).map(Some),
                    None => Some(attr),
                };
                let (lo, hi) = (bound(1, *min)?, bound(2, *max)?);
                Some(Step::Clip { src, lo: lo.unwrap_or(f32::NEG_INFINITY), hi: hi.unwrap_or(f32::INFINITY) })
            }
            Op::Relu => Some(Step::Relu { src: reg(0)? }),
            Op::Sigmoid => Some(Step::Sigmoid { src: reg(0)? }),
            Op::HardSigmoid { alpha, beta } => Some(Step::HardSigmoid { src: reg(0)?, alpha: *alpha as f32, beta: *beta as f32 }),
            _ => None,
        }
    };
    let mut out = Vec::with_capacity(nodes.len());
    let mut i = 0;
    while i < nodes.len() {
        // A chain starts at a pointwise node on a float tensor (a scale may come first: `w · x`).
        let Some(input) = nodes[i].inputs.iter().find(|n| !n.is_empty() && !ints.contains(*n) && !constants.contains_key(*n)).cloned()
        else {
            out.push(nodes[i].clone_node());
            i += 1;
            continue;
        };
        let mut regs: HashMap<String, usize> = HashMap::from([(input.clone(), 0)]);
        let mut steps = Vec::new();
        let mut end = i;
        while end < nodes.len() {
            let Some(s) = step(&nodes[end], &regs) else { break };
            steps.push(s);
            regs.insert(nodes[end].outputs[0].clone(), steps.len());
            end += 1;
        }
        // Keep the longest prefix whose intermediates are used only inside it.
        let mut fused_end = None;
        for last in (i + 1..end).rev() {
            let inner: HashSet<&str> = nodes[i..last].iter().map(|n| n.outputs[0].as_str()).collect();
            let inside_uses = |v: &str| nodes[i..=last].iter().flat_map(|n| n.inputs.iter()).filter(|x| x.as_str() == v).count();
            if inner.iter().all(|v| uses.get(v).copied().unwrap_or(0) == inside_uses(v)) {
                fused_end = Some(last);
                break;
            }
        }
        match fused_end {
            Some(last) => {
                let label = format!("{} … {} (fused)", nodes[i].name, nodes[last].name);
                out.push(Node {
                    op: Op::Fused { steps: steps[..=last - i].to_vec() },
                    name: label,
                    inputs: vec![input],
                    outputs: vec![nodes[last].outputs[0].clone()],
                    release: Vec::new(),
                });
                i = last + 1;
            }
            None => {
                out.push(nodes[i].clone_node());
                i += 1;
            }
        }
    }
    out
}

/// How many times each value is read, graph outputs included.
fn use_counts(nodes: &[Node], outputs: &[String]) -> HashMap<String, usize> {
    let mut uses: HashMap<String, usize> = HashMap::new();
    for input in nodes.iter().flat_map(|n| n.inputs.iter()).chain(outputs) {
        *uses.entry(input.clone()).or_default() += 1;
    }
    uses
}

/// Whether `node` reads `previous`'s single output as its first input and nothing else reads it.
fn sole_reader(previous: &Node, node: &Node, uses: &HashMap<String, usize>) -> bool {
    previous.outputs.len() == 1 && node.inputs.first() == previous.outputs.first() && uses.get(&previous.outputs[0]) == Some(&1)
}

/// Fold a per-channel bias (`Add` of a `[1, c, 1, 1]` constant) or an inference-mode batch
/// normalisation that directly follows a convolution into that convolution's weights and bias,
/// when it is the output's only reader: the detector's head has a transposed convolution, a bias
/// `Add` and a `BatchNormalization` in a row, three passes over a large map where none is needed.
pub(super) fn fold_channel_affines(nodes: Vec<Node>, constants: &mut HashMap<String, Value>, outputs: &[String]) -> Result<Vec<Node>> {
    let uses = use_counts(&nodes, outputs);
    let mut out: Vec<Node> = Vec::with_capacity(nodes.len());
    for node in nodes {
        if let Some(previous) = out.last_mut() {
            if sole_reader(previous, &node, &uses) {
                if let Some((scale, shift)) = channel_affine(previous, &node, constants)? {
                    fold_into(previous, &scale, &shift, constants)
                        .with_context(|| format!("folding {} into {}", node.name, previous.name))?;
                    previous.outputs = node.outputs.clone();
                    previous.name = format!("{} + {}", previous.name, node.name);
                    continue;
                }
            }
        }
        out.push(node);
    }
    Ok(out)
}

/// The output channels of a convolution node and the axis of its weights they run along.
fn output_channels(node: &Node, constants: &HashMap<String, Value>) -> Option<(usize, usize)> {
    let axis = match &node.op {
        Op::Conv { then, .. } if then.is_empty() => 0,
        Op::ConvTranspose { then, .. } if then.is_empty() => 1,
        _ => return None,
    };
    let Some(Value::F(w)) = node.inputs.get(1).and_then(|n| constants.get(n)) else { return None };
    let bias_is_constant = node.inputs.get(2).filter(|b| !b.is_empty()).is_none_or(|b| matches!(constants.get(b), Some(Value::F(_))));
    (w.rank() == 4 && bias_is_constant).then(|| (w.dims()[axis], axis))
}

/// `y = scale[c] · x + shift[c]` per channel, if `node` is one on `previous`'s output.
fn channel_affine(previous: &Node, node: &Node, constants: &HashMap<String, Value>) -> Result<Option<(Vec<f32>, Vec<f32>)>> {
    let Some((channels, _)) = output_channels(previous, constants) else { return Ok(None) };
    let constant = |i: usize| match node.inputs.get(i).and_then(|n| constants.get(n)) {
        Some(Value::F(t)) if t.elem_count() == channels => with_slice(t, <[f32]>::to_vec).map(Some),
        _ => Ok(None),
    };
    match &node.op {
        Op::Binary(Binary::Add) if node.inputs.len() == 2 => {
            // Per channel only when it broadcasts along axis 1 of `[n, c, h, w]`.
            let Some(Value::F(b)) = constants.get(&node.inputs[1]) else { return Ok(None) };
            let dims = b.dims();
            let along_channels = dims.len() <= 4
                && dims.len() >= 3
                && dims.iter().enumerate().all(|(i, d)| if i + 4 - dims.len() == 1 { *d == channels } else { *d == 1 });
            Ok(along_channels.then(|| constant(1)).transpose()?.flatten().map(|shift| (vec![1.0; channels], shift)))
        }
        Op::BatchNorm { eps } => {
            let (Some(gamma), Some(beta), Some(mean), Some(var)) = (constant(1)?, constant(2)?, constant(3)?, constant(4)?) else {
                return Ok(None);
            };
            let scale: Vec<f32> = gamma.iter().zip(&var).map(|(g, v)| g / (v + *eps as f32).sqrt()).collect();
            let shift = beta.iter().zip(mean.iter().zip(&scale)).map(|(b, (m, s))| b - m * s).collect();
            Ok(Some((scale, shift)))
        }
        _ => Ok(None),
    }
}

/// Scale the convolution's weights per output channel and give it the bias `bias·scale + shift`,
/// as new constants (the originals may be shared).
fn fold_into(conv: &mut Node, scale: &[f32], shift: &[f32], constants: &mut HashMap<String, Value>) -> Result<()> {
    let (channels, axis) = output_channels(conv, constants).ok_or_else(|| anyhow!("not a convolution with constant weights"))?;
    let Some(Value::F(w)) = constants.get(&conv.inputs[1]) else { bail!("weights are not constant") };
    let mut shape = [1usize; 4];
    shape[axis] = channels;
    let weights = w.broadcast_mul(&Tensor::from_slice(scale, shape.as_slice(), &Device::Cpu)?)?;
    let old_bias = match conv.inputs.get(2).filter(|b| !b.is_empty()).and_then(|b| constants.get(b)) {
        Some(Value::F(b)) => with_slice(b, <[f32]>::to_vec)?,
        _ => vec![0.0; channels],
    };
    ensure!(old_bias.len() == channels, "a bias of {} values for {channels} channels", old_bias.len());
    let bias: Vec<f32> = old_bias.iter().zip(scale.iter().zip(shift)).map(|(b, (s, t))| b * s + t).collect();
    let stem = conv.outputs[0].clone();
    let (wname, bname) = (format!("{stem}/folded_weights"), format!("{stem}/folded_bias"));
    constants.insert(wname.clone(), Value::F(weights));
    constants.insert(bname.clone(), Value::F(Tensor::from_vec(bias, channels, &Device::Cpu)?));
    conv.inputs = vec![conv.inputs[0].clone(), wname, bname];
    Ok(())
}

/// Give a convolution the fused chain, or the single activation, that immediately follows it, when
/// that is the only reader of the convolution's output: it then runs on each output plane while
/// the plane is in cache.
pub(super) fn fuse_into_convolutions(nodes: Vec<Node>, outputs: &[String]) -> Vec<Node> {
    let uses = use_counts(&nodes, outputs);
    let mut out: Vec<Node> = Vec::with_capacity(nodes.len());
    for node in nodes {
        let steps = match &node.op {
            Op::Fused { steps } => Some(steps.clone()),
            Op::Relu => Some(vec![Step::Relu { src: 0 }]),
            Op::Sigmoid => Some(vec![Step::Sigmoid { src: 0 }]),
            _ => None,
        };
        if let (Some(steps), Some(previous)) = (steps, out.last_mut()) {
            let only_user = node.inputs.len() == 1 && sole_reader(previous, &node, &uses);
            if let Op::Conv { then, .. } | Op::ConvTranspose { then, .. } = &mut previous.op {
                if then.is_empty() && only_user {
                    *then = steps;
                    previous.outputs = node.outputs.clone();
                    previous.name = format!("{} + {}", previous.name, node.name);
                    continue;
                }
            }
        }
        out.push(node);
    }
    out
}

impl Node {
    pub(super) fn clone_node(&self) -> Node {
        Node {
            op: self.op.clone(),
            name: self.name.clone(),
            inputs: self.inputs.clone(),
            outputs: self.outputs.clone(),
            release: Vec::new(),
        }
    }
}
