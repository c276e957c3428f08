//! Convolutions: each kind (depthwise, pointwise, dense stride 1, strided with few input channels,
//! other strided, transposed) on the kernel that suits it, with its bias and fused chain applied to
//! the output in the same pass where the kernel allows.

use anyhow::{anyhow, ensure, Result};
use candle_core::{Device, Tensor};

use super::{to_float, with_slice, Value};
use crate::fuse::{Epilogue, Step};
use crate::kernels::Depthwise;

#[derive(Debug, Clone, Copy)]
pub(super) struct ConvShape {
    pub(super) kernel: (usize, usize),
    pub(super) stride: (usize, usize),
    pub(super) pads: [usize; 4],
    pub(super) group: usize,
}

pub(super) fn conv(x: &Tensor, w: &Tensor, bias: Option<&Value>, shape: ConvShape, then: &[Step]) -> Result<Tensor> {
    let ConvShape { kernel, stride, pads, group } = shape;
    let (n, c, h, width) = x.dims4()?;
    let (co, ci_per_group, kh, kw) = w.dims4()?;
    ensure!((kh, kw) == kernel && ci_per_group * group == c, "weights {:?} do not fit input {:?} with group {group}", w.dims(), x.dims());
    if group > 1 && group == c && co == c {
        let bias_values = channel_values(bias, co)?;
        let (out, oh, ow) = with_slice(w, |weights| {
            let dw = Depthwise { weights, bias: bias_values.as_deref(), kernel, stride, pads, then };
            with_slice(x, |input| dw.run(input, n, c, h, width))
        })??
        .ok_or_else(|| anyhow!("depthwise convolution does not fit input {:?}", x.dims()))?;
        return Ok(Tensor::from_vec(out, (n, c, oh, ow), &Device::Cpu)?);
    }
    if group == 1 && kernel == (1, 1) && stride == (1, 1) && pads == [0; 4] {
        // A pointwise convolution is one matrix product per image ([co, c] × [c, h·w]): no im2col
        // copy, and the batch stays in place (laying it side by side for one large product cost
        // two transposes, more than the larger product gained).
        let bias = channel_values(bias, co)?;
        let epilogue = Epilogue { bias: bias.as_deref(), steps: then };
        let out = with_slice(w, |weights| {
            with_slice(x, |input| {
                crate::kernels::products_then(weights, input, (n, co, c, h * width), |image| epilogue.apply_in_place(image, co, h * width))
            })
        })??
        .ok_or_else(|| anyhow!("weights {:?} do not fit input {:?}", w.dims(), x.dims()))?;
        return Ok(Tensor::from_vec(out, (n, co, h, width), &Device::Cpu)?);
    }
    if group == 1 && stride == (1, 1) {
        let (out, oh, ow) = conv_shifted(x, w, pads)?;
        return owned_with_epilogue(out, (n, co, oh, ow), bias, then);
    }
    if group == 1 && c * kh * kw <= 64 {
        // Few input channels with a stride (the first layer, on the whole image): its columns are
        // small, and one product gives the output in place; candle's path is several times slower.
        let (out, oh, ow) = conv_by_columns(x, w, stride, pads)?;
        return owned_with_epilogue(out, (n, co, oh, ow), bias, then);
    }
    let symmetric = pads[0] == pads[1] && pads[1] == pads[2] && pads[2] == pads[3];
    let y = if symmetric && stride.0 == stride.1 {
        x.conv2d(w, pads[0], stride.0, 1, group)?
    } else {
        let padded = x.pad_with_zeros(2, pads[0], pads[2])?.pad_with_zeros(3, pads[1], pads[3])?;
        if stride.0 == stride.1 {
            padded.conv2d(w, 0, stride.0, 1, group)?
        } else {
            // Unequal strides: convolve densely and keep every stride-th row and column.
            let dense = padded.conv2d(w, 0, 1, 1, group)?;
            let pick = |len: usize, step: usize| -> Result<Tensor> {
                let idx: Vec<u32> = (0..len).step_by(step).map(|i| i as u32).collect();
                Ok(Tensor::new(idx.as_slice(), &Device::Cpu)?)
            };
            let (dh, dw) = (dense.dim(2)?, dense.dim(3)?);
            dense.index_select(&pick(dh, stride.0)?, 2)?.index_select(&pick(dw, stride.1)?, 3)?
        }
    };
    if bias.is_none() && then.is_empty() {
        return Ok(y);
    }
    let dims = y.dims4()?;
    owned_with_epilogue(with_slice(&y, <[f32]>::to_vec)?, dims, bias, then)
}

/// A transposed convolution whose kernel equals its stride, in the images' own layout: per image
/// one matrix product (`[co·kh·kw, ci] × [ci, h·w]`), then each output block taken from its taps
/// with the bias and the fused chain ([`crate::kernels::scatter_blocks`]).
pub(super) fn conv_transpose(x: &Tensor, w: &Tensor, bias: Option<&Value>, kernel: (usize, usize), then: &[Step]) -> Result<Tensor> {
    let (n, ci, h, wd) = x.dims4()?;
    let (wci, co, kh, kw) = w.dims4()?;
    ensure!(wci == ci && (kh, kw) == kernel, "weights {:?} do not fit input {:?}", w.dims(), x.dims());
    let bias = channel_values(bias, co)?;
    let taps = w.permute((1, 2, 3, 0))?.contiguous()?.reshape((co * kh * kw, ci))?;
    let epilogue = Epilogue { bias: bias.as_deref(), steps: then };
    let z = with_slice(&taps, |taps| with_slice(x, |input| crate::kernels::products(taps, input, n, co * kh * kw, ci, h * wd)))??
        .ok_or_else(|| anyhow!("weights {:?} do not fit input {:?}", w.dims(), x.dims()))?;
    let images = end_to_end(z.chunks_exact(co * kh * kw * h * wd).map(|image| {
        crate::kernels::scatter_blocks(image, co, h, wd, kernel, epilogue)
            .ok_or_else(|| anyhow!("kernel {kh}x{kw} does not fit input {h}x{wd}"))
    }))?;
    Ok(Tensor::from_vec(images, (n, co, h * kh, wd * kw), &Device::Cpu)?)
}

/// A convolution's output `[n, co, h, w]`, which the caller owns, with its bias per channel added
/// and its fused chain applied, in one pass in place ([`Epilogue`]).
fn owned_with_epilogue(mut out: Vec<f32>, dims: (usize, usize, usize, usize), bias: Option<&Value>, then: &[Step]) -> Result<Tensor> {
    let (_, co, h, w) = dims;
    let bias = channel_values(bias, co)?;
    Epilogue { bias: bias.as_deref(), steps: then }.apply_in_place(&mut out, co, h * w);
    Ok(Tensor::from_vec(out, dims, &Device::Cpu)?)
}

/// A bias input's values, which must be one per output channel.
fn channel_values(bias: Option<&Value>, channels: usize) -> Result<Option<Vec<f32>>> {
    let values = bias.map(|b| with_slice(&to_float(b)?, <[f32]>::to_vec)).transpose()?;
    ensure!(values.as_ref().is_none_or(|b| b.len() == channels), "a bias of {:?} values for {channels} channels", values.map(|b| b.len()));
    Ok(values)
}

/// The images' outputs laid end to end; a single image's buffer is kept as it is, not copied.
fn end_to_end(images: impl Iterator<Item = Result<Vec<f32>>>) -> Result<Vec<f32>> {
    let mut all = Vec::new();
    for image in images {
        let image = image?;
        if all.is_empty() {
            all = image;
        } else {
            all.extend(image);
        }
    }
    Ok(all)
}

/// A dense convolution as the product of its weights and the input's columns
/// ([`crate::kernels::columns`]), image by image.
fn conv_by_columns(x: &Tensor, w: &Tensor, stride: (usize, usize), pads: [usize; 4]) -> Result<(Vec<f32>, usize, usize)> {
    let (_, c, h, width) = x.dims4()?;
    let (co, _, kh, kw) = w.dims4()?;
    let mut size = (0, 0);
    let images = with_slice(w, |weights| {
        with_slice(x, |input| {
            end_to_end(input.chunks_exact(c * h * width).map(|image| {
                let (cols, oh, ow) = crate::kernels::columns(image, (c, h, width), (kh, kw), stride, pads)
                    .ok_or_else(|| anyhow!("kernel {kh}x{kw} does not fit input {h}x{width}"))?;
                size = (oh, ow);
                crate::kernels::products(weights, &cols, 1, co, c * kh * kw, oh * ow)
                    .ok_or_else(|| anyhow!("weights {:?} do not fit input {:?}", (co, c, kh, kw), (c, h, width)))
            }))
        })
    })???;
    Ok((images, size.0, size.1))
}

/// A dense stride-1 convolution as one well-shaped matrix product instead of im2col: every tap's
/// weights applied to every input pixel (`[kh·kw·co, c] × [c, h·w]`), then each output pixel sums
/// its taps at their offsets ([`crate::kernels::sum_taps`]). The intermediate is kh·kw times the
/// output, not kh·kw times the input, and the product has many rows, which the GEMM likes.
pub(super) fn conv_shifted(x: &Tensor, w: &Tensor, pads: [usize; 4]) -> Result<(Vec<f32>, usize, usize)> {
    let (n, c, h, width) = x.dims4()?;
    let (co, _, kh, kw) = w.dims4()?;
    let all_taps = w.permute((2, 3, 0, 1))?.contiguous()?.reshape((kh * kw * co, c))?;
    let z = with_slice(&all_taps, |taps| with_slice(x, |input| crate::kernels::products(taps, input, n, kh * kw * co, c, h * width)))??
        .ok_or_else(|| anyhow!("weights {:?} do not fit input {:?}", w.dims(), x.dims()))?;
    let mut size = (0, 0);
    let images = end_to_end(z.chunks_exact(kh * kw * co * h * width).map(|image| {
        let (out, oh, ow) = crate::kernels::sum_taps(image, co, h, width, (kh, kw), pads)
            .ok_or_else(|| anyhow!("kernel {kh}x{kw} does not fit input {h}x{width}"))?;
        size = (oh, ow);
        Ok(out)
    }))?;
    Ok((images, size.0, size.1))
}
