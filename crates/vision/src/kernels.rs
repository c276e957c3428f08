//! Numeric kernels candle lacks in a fast form.

use rayon::prelude::*;

use crate::fuse::{registers, Epilogue, Step};

/// Run a kernel compiled for the widest vector instructions this CPU has (AVX-512, or AVX2 with
/// FMA), chosen at run time: the crate itself is built for the x86-64 baseline, whose 4-lane SSE2
/// leaves plain loops at a fraction of the machine's width. The kernel's `with_simd` and what it
/// calls must be `#[inline(always)]` to be compiled for those instructions (a closure is not
/// inlined reliably, hence a type per kernel).
#[inline(always)]
pub fn vectorized<K: pulp::WithSimd>(kernel: K) -> K::Output {
    pulp::Arch::new().dispatch(kernel)
}

/// One output plane of a depthwise convolution, with its epilogue.
struct DepthwisePlane<'a, 'b> {
    conv: &'b Depthwise<'a>,
    plane: &'b [f32],
    h: usize,
    w: usize,
    channel: usize,
    out: &'b mut [f32],
    ow: usize,
    padded: &'b mut Vec<f32>,
    regs: &'b mut crate::fuse::Registers,
}

impl pulp::WithSimd for DepthwisePlane<'_, '_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        let DepthwisePlane { conv, plane, h, w, channel: c, out, ow, padded, regs } = self;
        let (kh, kw) = conv.kernel;
        let kernel = &conv.weights[c * kh * kw..(c + 1) * kh * kw];
        let bias = conv.bias.map_or(0.0, |b| b[c]);
        if conv.stride.1 == 1 {
            conv.plane_by_lanes(plane, (h, w), kernel, bias, out, ow, padded);
        } else {
            conv.plane(plane, h, w, kernel, bias, out, ow);
        }
        if !conv.then.is_empty() {
            Epilogue { bias: None, steps: conv.then }.plane(c, out, regs);
        }
    }
}

/// Output values a depthwise convolution sums at once: one AVX-512 register, two AVX2 ones.
const LANES: usize = 16;

/// A depthwise 2-D convolution: every channel convolved with its own kernel (ONNX `Conv` with
/// `group == channels`). Padding is per side, so asymmetric padding and unequal strides need no copies.
#[derive(Debug, Clone, Copy)]
pub struct Depthwise<'a> {
    /// `[channels, 1, kh, kw]`, row-major.
    pub weights: &'a [f32],
    /// One per channel, if any.
    pub bias: Option<&'a [f32]>,
    pub kernel: (usize, usize),
    /// (vertical, horizontal)
    pub stride: (usize, usize),
    /// top, left, bottom, right
    pub pads: [usize; 4],
    /// A pointwise chain applied to each output plane as soon as it is computed (empty: none).
    pub then: &'a [Step],
}

impl Depthwise<'_> {
    /// Output height and width for an input of `h`×`w`, or `None` when the kernel does not fit.
    pub fn output_size(&self, h: usize, w: usize) -> Option<(usize, usize)> {
        let (kh, kw) = self.kernel;
        let (sh, sw) = self.stride;
        let ph = h + self.pads[0] + self.pads[2];
        let pw = w + self.pads[1] + self.pads[3];
        if ph < kh || pw < kw || sh == 0 || sw == 0 {
            return None;
        }
        Some(((ph - kh) / sh + 1, (pw - kw) / sw + 1))
    }

    /// Convolve `input` (`[n, channels, h, w]`, row-major). Returns the output and its height and width.
    pub fn run(&self, input: &[f32], n: usize, channels: usize, h: usize, w: usize) -> Option<(Vec<f32>, usize, usize)> {
        let (kh, kw) = self.kernel;
        if input.len() != n * channels * h * w || self.weights.len() != channels * kh * kw {
            return None;
        }
        if self.bias.is_some_and(|b| b.len() != channels) || h == 0 || w == 0 {
            return None;
        }
        let (oh, ow) = self.output_size(h, w)?;
        let mut out = vec![0f32; n * channels * oh * ow];
        if oh * ow == 0 {
            return Some((out, oh, ow));
        }
        out.par_chunks_mut(oh * ow).enumerate().for_each_init(
            || (registers(self.then), Vec::new()),
            |(regs, padded), (plane_index, out)| {
                let plane = &input[plane_index * h * w..(plane_index + 1) * h * w];
                vectorized(DepthwisePlane { conv: self, plane, h, w, channel: plane_index % channels, out, ow, padded, regs });
            },
        );
        Some((out, oh, ow))
    }

    /// One plane with horizontal stride 1: the plane is first copied into `padded` with its zero
    /// border (and room for a last, partial group of lanes), so that every output group of
    /// [`LANES`] values is summed over all taps in registers, with no bounds to check, and
    /// stored once.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn plane_by_lanes(
        &self,
        plane: &[f32],
        (h, w): (usize, usize),
        kernel: &[f32],
        bias: f32,
        out: &mut [f32],
        ow: usize,
        padded: &mut Vec<f32>,
    ) {
        let (kh, kw) = self.kernel;
        let sh = self.stride.0;
        let [pt, pl, pb, pr] = self.pads;
        let pw = w + pl + pr + LANES;
        padded.clear();
        padded.resize((h + pt + pb) * pw, 0.0);
        for (y, row) in plane.chunks_exact(w).enumerate() {
            padded[(y + pt) * pw + pl..][..w].copy_from_slice(row);
        }
        for (oy, out_row) in out.chunks_mut(ow).enumerate() {
            for x0 in (0..ow).step_by(LANES) {
                let mut acc = [bias; LANES];
                for ky in 0..kh {
                    let row = &padded[(oy * sh + ky) * pw + x0..];
                    for kx in 0..kw {
                        let weight = kernel[ky * kw + kx];
                        let src: &[f32; LANES] = row[kx..kx + LANES].try_into().expect("a padded row holds LANES more values");
                        for (a, v) in acc.iter_mut().zip(src) {
                            *a += weight * v;
                        }
                    }
                }
                let len = LANES.min(ow - x0);
                out_row[x0..x0 + len].copy_from_slice(&acc[..len]);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn plane(&self, plane: &[f32], h: usize, w: usize, kernel: &[f32], bias: f32, out: &mut [f32], ow: usize) {
        let (kh, kw) = self.kernel;
        let (sh, sw) = self.stride;
        let (pt, pl) = (self.pads[0], self.pads[1]);
        for (oy, out_row) in out.chunks_mut(ow).enumerate() {
            out_row.fill(bias);
            for ky in 0..kh {
                // input row = oy*sh + ky - pt
                let Some(iy) = (oy * sh + ky).checked_sub(pt) else { continue };
                if iy >= h {
                    continue;
                }
                let in_row = &plane[iy * w..(iy + 1) * w];
                for kx in 0..kw {
                    let weight = kernel[ky * kw + kx];
                    // input column = ox*sw + kx - pl, valid for ox in first..end
                    let first = if kx >= pl { 0 } else { (pl - kx).div_ceil(sw) };
                    let end = if w + pl > kx { ((w - 1 + pl - kx) / sw + 1).min(ow) } else { 0 };
                    if first >= end {
                        continue;
                    }
                    let start = first * sw + kx - pl;
                    if sw == 1 {
                        for (o, i) in out_row[first..end].iter_mut().zip(&in_row[start..]) {
                            *o += weight * i;
                        }
                    } else {
                        for (o, i) in out_row[first..end].iter_mut().zip(in_row[start..].iter().step_by(sw)) {
                            *o += weight * i;
                        }
                    }
                }
            }
        }
    }
}

/// `[m, k] × [k, p]` for each of `n` images (`input` is `[n, k, p]`), written straight into a new
/// `[n, m, p]` buffer by the GEMM: a pointwise convolution's whole product. Going through candle
/// would zero its output first (with freed memory kept for reuse, that is a pass over the whole
/// map) and need a copy to apply the epilogue; this buffer is the convolution's output as it is.
#[allow(unsafe_code)]
pub fn products(weights: &[f32], input: &[f32], n: usize, m: usize, k: usize, p: usize) -> Option<Vec<f32>> {
    if weights.len() != m * k || input.len() != n * k * p {
        return None;
    }
    let len = n * m * p;
    if k == 0 || len == 0 {
        return Some(vec![0.0; len]);
    }
    let threads = rayon::current_num_threads();
    let parallelism = if threads > 1 { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None };
    let mut out: Vec<f32> = Vec::with_capacity(len);
    for b in 0..n {
        // SAFETY: the three matrices lie inside their buffers: `weights` holds m·k values (row
        // stride k), image b of `input` starts at b·k·p and holds k·p (row stride p), and the
        // destination starts at b·m·p inside the m·p·n values reserved for `out` (row stride p).
        // Unit column strides, no aliasing (`out` is new). With `read_dst` false the GEMM writes
        // every destination value without reading it first, so the reserved memory is fully
        // written before `set_len` below makes it readable.
        unsafe {
            gemm::gemm(
                m,
                p,
                k,
                out.as_mut_ptr().add(b * m * p),
                1,
                p as isize,
                false,
                weights.as_ptr(),
                1,
                k as isize,
                input.as_ptr().add(b * k * p),
                1,
                p as isize,
                0.0,
                1.0,
                false,
                false,
                false,
                parallelism,
            );
        }
    }
    // SAFETY: every one of the `len` values was written by the products above.
    unsafe { out.set_len(len) };
    Some(out)
}

/// The second half of a dense stride-1 convolution computed as one matrix product: `z` holds, for
/// every kernel tap (ky, kx) and output channel, that tap's weights applied at every input pixel
/// (`[kh·kw, channels, h, w]`); each output pixel sums the taps at their offsets.
pub fn sum_taps(
    z: &[f32],
    channels: usize,
    h: usize,
    w: usize,
    kernel: (usize, usize),
    pads: [usize; 4],
) -> Option<(Vec<f32>, usize, usize)> {
    let (kh, kw) = kernel;
    if z.len() != kh * kw * channels * h * w || h + pads[0] + pads[2] < kh || w + pads[1] + pads[3] < kw {
        return None;
    }
    let (oh, ow) = (h + pads[0] + pads[2] - kh + 1, w + pads[1] + pads[3] - kw + 1);
    let (pt, pl) = (pads[0], pads[1]);
    let mut out = vec![0f32; channels * oh * ow];
    out.par_chunks_mut(oh * ow).enumerate().for_each(|(c, plane)| {
        for ky in 0..kh {
            for kx in 0..kw {
                let tap = &z[((ky * kw + kx) * channels + c) * h * w..][..h * w];
                // output (oy, ox) reads input (oy + ky − pt, ox + kx − pl)
                let first = pl.saturating_sub(kx);
                let end = (w + pl).saturating_sub(kx).min(ow);
                if first >= end {
                    continue;
                }
                for (oy, row) in plane.chunks_mut(ow).enumerate() {
                    let Some(iy) = (oy + ky).checked_sub(pt).filter(|iy| *iy < h) else { continue };
                    let src = &tap[iy * w + first + kx - pl..];
                    for (o, i) in row[first..end].iter_mut().zip(src) {
                        *o += i;
                    }
                }
            }
        }
    });
    Some((out, oh, ow))
}

/// The second half of a transposed convolution whose kernel equals its stride (every input pixel
/// writes its own kh×kw block of the output, no overlap), computed as one matrix product: `z` holds
/// `[channels, kh, kw, h, w]`, each tap's weights applied at every input pixel; the output
/// `[channels, h·kh, w·kw]` takes each block from its taps, with the epilogue applied to the rows
/// of each block while they are in cache.
pub fn scatter_blocks(z: &[f32], channels: usize, h: usize, w: usize, kernel: (usize, usize), epilogue: Epilogue) -> Option<Vec<f32>> {
    let (kh, kw) = kernel;
    if z.len() != channels * kh * kw * h * w || kh == 0 || kw == 0 || w == 0 {
        return None;
    }
    let ow = w * kw;
    let mut out = vec![0f32; z.len()];
    // One task per input row of a channel: the kh output rows it fills.
    out.par_chunks_mut(kh * ow).enumerate().for_each_init(
        || registers(epilogue.steps),
        |regs, (index, rows)| {
            let (c, y) = (index / h, index % h);
            for (i, row) in rows.chunks_mut(ow).enumerate() {
                for j in 0..kw {
                    let tap = &z[((c * kh + i) * kw + j) * h * w + y * w..][..w];
                    for (o, v) in row[j..].iter_mut().step_by(kw).zip(tap) {
                        *o = *v;
                    }
                }
            }
            if !epilogue.is_empty() {
                epilogue.plane(c, rows, regs);
            }
        },
    );
    Some(out)
}

/// Softmax over each row of `row` values (the last axis), rows in parallel.
pub fn softmax_rows(data: &[f32], row: usize) -> Vec<f32> {
    let mut out = data.to_vec();
    if row == 0 {
        return out;
    }
    out.par_chunks_mut(row).for_each(|values| {
        let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for v in values.iter_mut() {
            *v = (*v - max).exp();
            sum += *v;
        }
        let inverse = 1.0 / sum;
        values.iter_mut().for_each(|v| *v *= inverse);
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_are_each_images_matrix_product() {
        let (n, m, k, p) = (3, 5, 7, 33);
        let weights: Vec<f32> = (0..m * k).map(|i| ((i * 13 % 17) as f32 - 8.0) / 4.0).collect();
        let input: Vec<f32> = (0..n * k * p).map(|i| ((i * 7 % 23) as f32 - 11.0) / 8.0).collect();
        let out = products(&weights, &input, n, m, k, p).unwrap();
        for b in 0..n {
            for i in 0..m {
                for j in 0..p {
                    let want: f32 = (0..k).map(|l| weights[i * k + l] * input[(b * k + l) * p + j]).sum();
                    let got = out[(b * m + i) * p + j];
                    assert!((got - want).abs() < 1e-4, "image {b} ({i}, {j}): {got} vs {want}");
                }
            }
        }
        assert_eq!(products(&weights, &input, n, m, 0, p), None, "sizes that do not fit are refused");
        assert_eq!(products(&[], &[], 2, 3, 0, 4), Some(vec![0.0; 24]), "an empty sum is zero");
    }

    #[test]
    fn scattered_blocks_place_each_tap_at_its_offset_and_then_apply_the_epilogue() {
        let (c, h, w, kh, kw) = (2, 3, 4, 2, 3);
        let z: Vec<f32> = (0..c * kh * kw * h * w).map(|i| i as f32 - 70.0).collect();
        let bias = [0.5, -1.0];
        let steps = [Step::Relu { src: 0 }];
        let out = scatter_blocks(&z, c, h, w, (kh, kw), Epilogue { bias: Some(&bias), steps: &steps }).unwrap();
        assert_eq!(out.len(), c * h * kh * w * kw);
        for ch in 0..c {
            for oy in 0..h * kh {
                for ox in 0..w * kw {
                    let (y, i, x, j) = (oy / kh, oy % kh, ox / kw, ox % kw);
                    let want = (z[(((ch * kh + i) * kw + j) * h + y) * w + x] + bias[ch]).max(0.0);
                    assert_eq!(out[(ch * h * kh + oy) * w * kw + ox], want, "channel {ch} ({oy}, {ox})");
                }
            }
        }
        assert!(scatter_blocks(&z[1..], c, h, w, (kh, kw), Epilogue { bias: None, steps: &[] }).is_none());
    }

    /// The definition, written out: out[c][oy][ox] = bias[c] + Σ w[c][ky][kx] · in[c][oy·sh+ky−pt][ox·sw+kx−pl].
    fn reference(d: &Depthwise, input: &[f32], n: usize, c: usize, h: usize, w: usize) -> Vec<f32> {
        let (oh, ow) = d.output_size(h, w).unwrap();
        let (kh, kw) = d.kernel;
        let mut out = vec![0.0; n * c * oh * ow];
        for b in 0..n {
            for ch in 0..c {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut acc = d.bias.map_or(0.0, |bias| bias[ch]);
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let iy = (oy * d.stride.0 + ky) as isize - d.pads[0] as isize;
                                let ix = (ox * d.stride.1 + kx) as isize - d.pads[1] as isize;
                                if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                                    acc += d.weights[(ch * kh + ky) * kw + kx] * input[((b * c + ch) * h + iy as usize) * w + ix as usize];
                                }
                            }
                        }
                        out[((b * c + ch) * oh + oy) * ow + ox] = acc;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn matches_the_definition_for_every_stride_and_padding_pp_ocr_uses() {
        // Widths below, at and across the 16 values summed at once.
        for (n, c, h, w) in [(2, 3, 9, 11), (1, 2, 7, 16), (1, 2, 6, 37)] {
            matches_the_definition_at(n, c, h, w);
        }
    }

    fn matches_the_definition_at(n: usize, c: usize, h: usize, w: usize) {
        let input: Vec<f32> = (0..n * c * h * w).map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0).collect();
        for (k, pad) in [(3, 1), (5, 2), (3, 0), (2, 0)] {
            let weights: Vec<f32> = (0..c * k * k).map(|i| ((i * 13 % 17) as f32 - 8.0) / 8.0).collect();
            let bias = [0.5, -1.0, 0.25];
            let bias = &bias[..c];
            for stride in [(1, 1), (2, 2), (2, 1), (1, 2)] {
                for pads in [[pad; 4], [0, pad, 0, pad], [pad, 0, 1, 0]] {
                    let d = Depthwise { weights: &weights, bias: Some(bias), kernel: (k, k), stride, pads, then: &[] };
                    let (got, oh, ow) = d.run(&input, n, c, h, w).unwrap();
                    let want = reference(&d, &input, n, c, h, w);
                    assert_eq!(got.len(), n * c * oh * ow);
                    for (g, e) in got.iter().zip(&want) {
                        assert!((g - e).abs() < 1e-4, "k={k} stride={stride:?} pads={pads:?}: {g} vs {e}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_chain_after_the_convolution_sees_the_biased_output() {
        let (n, c, h, w) = (1, 2, 6, 7);
        let input: Vec<f32> = (0..n * c * h * w).map(|i| ((i * 11 % 29) as f32 - 14.0) / 7.0).collect();
        let weights: Vec<f32> = (0..c * 9).map(|i| ((i * 5 % 9) as f32 - 4.0) / 4.0).collect();
        let bias = [0.25, -0.75];
        let plain = Depthwise { weights: &weights, bias: Some(&bias), kernel: (3, 3), stride: (1, 1), pads: [1; 4], then: &[] };
        let relu = [Step::Relu { src: 0 }];
        let fused = Depthwise { then: &relu, ..plain };
        let (want, _, _) = plain.run(&input, n, c, h, w).unwrap();
        let (got, _, _) = fused.run(&input, n, c, h, w).unwrap();
        assert!(want.iter().any(|v| *v < 0.0));
        for (g, e) in got.iter().zip(&want) {
            assert_eq!(*g, e.max(0.0));
        }
    }

    #[test]
    fn softmax_rows_sum_to_one_and_keep_their_order_even_for_large_values() {
        let data = [1.0, 2.0, 3.0, 1000.0, 1001.0, 999.0];
        let out = softmax_rows(&data, 3);
        for row in out.chunks(3) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6, "{row:?}");
        }
        let e = [1f32.exp(), 2f32.exp(), 3f32.exp()];
        let total: f32 = e.iter().sum();
        assert!((out[0] - e[0] / total).abs() < 1e-6 && (out[2] - e[2] / total).abs() < 1e-6);
        assert!(out[4] > out[3] && out[3] > out[5]);
    }

    #[test]
    fn rejects_mismatched_buffers_instead_of_reading_past_them() {
        let weights = [1.0; 9];
        let d = Depthwise { weights: &weights, bias: None, kernel: (3, 3), stride: (1, 1), pads: [0; 4], then: &[] };
        assert!(d.run(&[0.0; 8], 1, 1, 3, 3).is_none());
        assert!(d.run(&[0.0; 4], 1, 1, 2, 2).is_none(), "a 3x3 kernel does not fit a 2x2 input without padding");
        let padded = Depthwise { pads: [1; 4], ..d };
        assert!(padded.run(&[], 1, 1, 3, 0).is_none(), "an empty plane is refused, not padded into an output");
    }
}
