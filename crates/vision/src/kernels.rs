//! Numeric kernels candle lacks in a fast form.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use crate::fuse::{with_registers, Epilogue, Step};

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
    out: &'b mut [MaybeUninit<f32>],
    ow: usize,
    padded: &'b mut Padded,
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
        conv.plane_by_lanes(plane, (h, w), kernel, bias, out, ow, padded);
        if !conv.then.is_empty() {
            Epilogue { bias: None, steps: conv.then }.plane(c, written(out), regs);
        }
    }
}

thread_local! {
    /// This thread's copy of the plane being convolved, with its zero border, kept between planes.
    static PADDED: std::cell::RefCell<Padded> = const { std::cell::RefCell::new(Padded { values: Vec::new(), shape: [0; 6] }) };
}

/// A plane with its zero border, and the shape it was laid out for (`h`, `w`, top, left and
/// bottom padding, padded row length).
struct Padded {
    values: Vec<f32>,
    shape: [usize; 6],
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
        let len = n * channels * oh * ow;
        if len == 0 {
            return Some((Vec::new(), oh, ow));
        }
        // Written once, by the kernel: zeroing it first was a tenth of the convolution's time.
        let mut out: Vec<f32> = Vec::with_capacity(len);
        out.spare_capacity_mut()[..len].par_chunks_mut(oh * ow).enumerate().for_each(|(plane_index, out)| {
            let plane = &input[plane_index * h * w..(plane_index + 1) * h * w];
            with_registers(self.then, |regs| {
                PADDED.with(|cell| {
                    let mut fresh = Padded { values: Vec::new(), shape: [0; 6] };
                    let mut kept = cell.try_borrow_mut();
                    let padded = kept.as_deref_mut().unwrap_or(&mut fresh);
                    vectorized(DepthwisePlane { conv: self, plane, h, w, channel: plane_index % channels, out, ow, padded, regs })
                })
            });
        });
        // SAFETY: `plane_by_lanes` wrote every value of every plane (see `written`), and the
        // planes tile the `len` values.
        #[allow(unsafe_code)]
        unsafe {
            out.set_len(len)
        };
        Some((out, oh, ow))
    }

    /// One plane, every value of `out` written. It is first copied into `padded` with its zero
    /// border and room for whole groups of [`LANES`] at the end of each row, so that every group of
    /// output values is summed
    /// over all taps in registers with no bounds to check. Up to four groups are summed at once,
    /// each into two accumulators (even and odd kernel rows): a single chain of multiply-adds
    /// waits on its own latency at every tap, and that, not arithmetic, bounded the first version
    /// of this kernel. A horizontal stride above 1 computes the row at stride 1 and keeps every
    /// stride-th value: twice the arithmetic at stride 2, but at the full width of the vectors.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn plane_by_lanes(
        &self,
        plane: &[f32],
        (h, w): (usize, usize),
        kernel: &[f32],
        bias: f32,
        out: &mut [MaybeUninit<f32>],
        ow: usize,
        padded: &mut Padded,
    ) {
        let (kh, kw) = self.kernel;
        let (sh, sw) = self.stride;
        let [pt, pl, pb, pr] = self.pads;
        // Positions computed per row at stride 1, in whole groups of lanes.
        let span = ((ow - 1) * sw + 1).next_multiple_of(LANES);
        let pw = (w + pl + pr).max(span + kw - 1);
        // The border is never written, so a buffer of the same shape as the last plane's (the
        // previous channel of the same layer, as a rule) needs only its inside replaced.
        let shape = [h, w, pt, pl, pb, pw];
        if padded.shape != shape {
            padded.values.clear();
            padded.values.resize((h + pt + pb) * pw, 0.0);
            padded.shape = shape;
        }
        let padded = &mut padded.values;
        for (y, row) in plane.chunks_exact(w).enumerate() {
            padded[(y + pt) * pw + pl..][..w].copy_from_slice(row);
        }
        let taps = Taps { padded, pw, kernel, kernel_size: (kh, kw), bias };
        for (oy, out_row) in out.chunks_mut(ow).enumerate() {
            let top = oy * sh;
            let mut x0 = 0;
            while x0 < span {
                let done = match (span - x0) / LANES {
                    1 => store(out_row, taps.sum::<1>(top, x0).as_flattened(), x0, sw),
                    2 => store(out_row, taps.sum::<2>(top, x0).as_flattened(), x0, sw),
                    3 => store(out_row, taps.sum::<3>(top, x0).as_flattened(), x0, sw),
                    _ => store(out_row, taps.sum::<4>(top, x0).as_flattened(), x0, sw),
                };
                x0 += done;
            }
        }
    }
}

/// A depthwise kernel over one zero-bordered plane.
struct Taps<'a> {
    padded: &'a [f32],
    /// Row length of `padded`.
    pw: usize,
    kernel: &'a [f32],
    kernel_size: (usize, usize),
    bias: f32,
}

impl Taps<'_> {
    /// `G` groups of [`LANES`] stride-1 outputs from padded row `top` and column `x0` on.
    #[inline(always)]
    fn sum<const G: usize>(&self, top: usize, x0: usize) -> [[f32; LANES]; G] {
        let kh = self.kernel_size.0;
        let mut even = [[self.bias; LANES]; G];
        let mut odd = [[0.0; LANES]; G];
        for ky in (0..kh).step_by(2) {
            self.row::<G>(&mut even, top + ky, x0, ky);
            if ky + 1 < kh {
                self.row::<G>(&mut odd, top + ky + 1, x0, ky + 1);
            }
        }
        for (e, o) in even.iter_mut().zip(&odd) {
            e.iter_mut().zip(o).for_each(|(e, o)| *e += o);
        }
        even
    }

    /// Add kernel row `ky`'s taps, applied to padded row `y`, into `acc`.
    #[inline(always)]
    fn row<const G: usize>(&self, acc: &mut [[f32; LANES]; G], y: usize, x0: usize, ky: usize) {
        let kw = self.kernel_size.1;
        let row = &self.padded[y * self.pw + x0..][..G * LANES + kw - 1];
        for (kx, &weight) in self.kernel[ky * kw..][..kw].iter().enumerate() {
            for (g, group) in acc.iter_mut().enumerate() {
                let src: &[f32; LANES] = row[g * LANES + kx..][..LANES].try_into().expect("a padded row holds whole groups");
                group.iter_mut().zip(src).for_each(|(a, v)| *a = v.mul_add(weight, *a));
            }
        }
    }
}

/// Keep the values at stride `sw` of the stride-1 outputs `dense` (which start at position `x0`
/// of the row); returns how many positions were consumed. Called for `x0` = 0, then each time at
/// the position it returned, up to `(ow − 1)·sw + 1` or beyond, it writes every value of the row:
/// at stride 1, `dense` is laid at `x0` and cut at the row's end; above it, output `o` takes the
/// dense value at position `o·sw`, and some call's `dense` holds that position.
#[inline(always)]
fn store(out_row: &mut [MaybeUninit<f32>], dense: &[f32], x0: usize, sw: usize) -> usize {
    if sw == 1 {
        for (start, group) in (x0..).step_by(LANES).zip(dense.chunks_exact(LANES)) {
            if let Some(whole) = out_row.get_mut(start..start + LANES) {
                // A constant length: one vector store, not a loop or a call to `memcpy`.
                let whole = <&mut [MaybeUninit<f32>; LANES]>::try_from(whole).expect("LANES values");
                whole.iter_mut().zip(group).for_each(|(o, v)| {
                    o.write(*v);
                });
            } else if let Some(end) = out_row.get_mut(start..) {
                end.iter_mut().zip(group).for_each(|(o, v)| {
                    o.write(*v);
                });
            }
        }
    } else {
        let first = x0.div_ceil(sw);
        for (o, v) in out_row.iter_mut().skip(first).zip(dense.get(first * sw - x0..).unwrap_or_default().iter().step_by(sw)) {
            o.write(*v);
        }
    }
    dense.len()
}

/// A plane `plane_by_lanes` has written, as values.
#[allow(unsafe_code)]
#[inline(always)]
fn written(plane: &mut [MaybeUninit<f32>]) -> &mut [f32] {
    // SAFETY: called only on a plane after `plane_by_lanes`, which writes every value of it
    // (`store`); `MaybeUninit<f32>` has the layout of `f32`.
    unsafe { &mut *(std::ptr::from_mut(plane) as *mut [f32]) }
}

/// `[m, k] × [k, p]` for each of `n` images (`input` is `[n, k, p]`), written straight into a new
/// `[n, m, p]` buffer by the GEMM: a pointwise convolution's whole product. Going through candle
/// would zero its output first (with freed memory kept for reuse, that is a pass over the whole
/// map) and need a copy to apply the epilogue; this buffer is the convolution's output as it is.
pub fn products(weights: &[f32], input: &[f32], n: usize, m: usize, k: usize, p: usize) -> Option<Vec<f32>> {
    products_then(weights, input, (n, m, k, p), |_| {})
}

/// [`products`], with `then` applied to each image's `[m, p]` output as soon as it is written,
/// while it is still in cache. The images are multiplied in parallel, each product itself
/// parallel too, so that a core left without an image helps with the last one: a batch of small
/// products (a recognition batch of text lines) waits less on the threads' meeting after each.
#[allow(unsafe_code)]
pub fn products_then(
    weights: &[f32],
    input: &[f32],
    (n, m, k, p): (usize, usize, usize, usize),
    then: impl Fn(&mut [f32]) + Sync,
) -> Option<Vec<f32>> {
    if weights.len() != m * k || input.len() != n * k * p {
        return None;
    }
    let len = n * m * p;
    if len == 0 {
        return Some(Vec::new());
    }
    if k == 0 {
        let mut out = vec![0.0; len];
        out.chunks_exact_mut(m * p).for_each(&then);
        return Some(out);
    }
    let threads = rayon::current_num_threads();
    let parallelism = if threads > 1 { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None };
    let mut out: Vec<f32> = Vec::with_capacity(len);
    out.spare_capacity_mut()[..len].par_chunks_mut(m * p).enumerate().for_each(|(b, dst)| {
        // SAFETY: the three matrices lie inside their buffers: `weights` holds m·k values (row
        // stride k), image b of `input` starts at b·k·p and holds k·p (row stride p), and `dst`
        // is image b's m·p values of the capacity reserved for `out` (row stride p), which no
        // other task touches. Unit column strides, no aliasing (`out` is new). With `read_dst`
        // false the GEMM writes every destination value without reading it first, so `dst` is
        // fully written before it is read as initialised values below.
        let image = unsafe {
            gemm::gemm(
                m,
                p,
                k,
                dst.as_mut_ptr().cast::<f32>(),
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
            std::slice::from_raw_parts_mut(dst.as_mut_ptr().cast::<f32>(), dst.len())
        };
        then(image);
    });
    // SAFETY: every one of the `len` values was written by the products above.
    unsafe { out.set_len(len) };
    Some(out)
}

/// The columns of a strided dense convolution for one image (`[channels, h, w]`): row
/// `(c, ky, kx)` holds, for every output pixel, the input value that tap sees (zero in the
/// padding), so that the convolution is `[co, c·kh·kw] × columns`, in the output's own layout.
/// Worth it when the input has few channels (a network's first layer on the full image); rows
/// are filled in parallel.
pub fn columns(
    input: &[f32],
    (channels, h, w): (usize, usize, usize),
    kernel: (usize, usize),
    stride: (usize, usize),
    pads: [usize; 4],
) -> Option<(Vec<f32>, usize, usize)> {
    let (kh, kw) = kernel;
    let (sh, sw) = stride;
    let (ph, pw) = (h + pads[0] + pads[2], w + pads[1] + pads[3]);
    if input.len() != channels * h * w || ph < kh || pw < kw || sh == 0 || sw == 0 || kh == 0 || kw == 0 {
        return None;
    }
    let (oh, ow) = ((ph - kh) / sh + 1, (pw - kw) / sw + 1);
    let (pt, pl) = (pads[0], pads[1]);
    let mut out = vec![0f32; channels * kh * kw * oh * ow];
    out.par_chunks_mut(oh * ow).enumerate().for_each(|(r, row)| {
        let (c, ky, kx) = (r / (kh * kw), r / kw % kh, r % kw);
        let plane = &input[c * h * w..][..h * w];
        // output column ox reads input column ox·sw + kx − pl, inside the image for first..end
        let first = pl.saturating_sub(kx).div_ceil(sw);
        let end = if w + pl > kx { ((w + pl - kx - 1) / sw + 1).min(ow) } else { 0 };
        for (oy, out_row) in row.chunks_exact_mut(ow).enumerate() {
            let Some(iy) = (oy * sh + ky).checked_sub(pt).filter(|iy| *iy < h) else { continue };
            if first >= end {
                continue;
            }
            let src = &plane[iy * w + first * sw + kx - pl..];
            for (o, v) in out_row[first..end].iter_mut().zip(src.iter().step_by(sw)) {
                *o = *v;
            }
        }
    });
    Some((out, oh, ow))
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
    out.par_chunks_mut(kh * ow).enumerate().for_each(|(index, rows)| {
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
            with_registers(epilogue.steps, |regs| epilogue.plane(c, rows, regs));
        }
    });
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

/// Nearest-neighbour upsampling of every `h`×`w` plane of `input` to `th`×`tw`: output (y, x)
/// takes input (⌊y·h/th⌋, ⌊x·w/tw⌋), as candle's `upsample_nearest2d` does. Rows are written in
/// parallel; candle's runs on one core, and the detector's feature pyramid upsamples maps of
/// tens of megabytes. `None` when `input` is not whole planes.
pub fn upsample_nearest(input: &[f32], (h, w): (usize, usize), (th, tw): (usize, usize)) -> Option<Vec<f32>> {
    if h == 0 || w == 0 || !input.len().is_multiple_of(h * w) {
        return None;
    }
    let len = input.len() / (h * w) * th * tw;
    if len == 0 {
        return Some(Vec::new());
    }
    let source = |d: usize, from: usize, to: usize| ((d as f64 * (from as f64 / to as f64)) as usize).min(from - 1);
    let xs: Vec<usize> = (0..tw).map(|x| source(x, w, tw)).collect();
    // Written once, not zeroed first: the map is memory-bound, and zeroing doubled its traffic.
    let mut out: Vec<f32> = Vec::with_capacity(len);
    out.spare_capacity_mut()[..len].par_chunks_mut(tw).enumerate().with_min_len((16 * 1024 / tw).max(1)).for_each(|(r, row)| {
        let (plane, y) = (r / th, r % th);
        let src = &input[(plane * h + source(y, h, th)) * w..][..w];
        row.iter_mut().zip(&xs).for_each(|(o, &x)| {
            o.write(src[x]);
        });
    });
    // SAFETY: the first `len` values were each written above: `len` is a whole number of rows of
    // `tw` values, and every row was zipped with `xs`, which holds `tw` source columns.
    #[allow(unsafe_code)]
    unsafe {
        out.set_len(len)
    };
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_upsampling_matches_candle() {
        for ((h, w), (th, tw)) in [((3, 5), (6, 10)), ((3, 5), (12, 20)), ((4, 3), (7, 5)), ((2, 2), (2, 2))] {
            let input: Vec<f32> = (0..2 * 3 * h * w).map(|i| i as f32 * 0.5 - 3.0).collect();
            let want = candle_core::Tensor::from_vec(input.clone(), (2, 3, h, w), &candle_core::Device::Cpu)
                .unwrap()
                .upsample_nearest2d(th, tw)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            assert_eq!(upsample_nearest(&input, (h, w), (th, tw)).unwrap(), want, "{h}x{w} -> {th}x{tw}");
        }
        assert_eq!(upsample_nearest(&[1.0; 7], (2, 2), (4, 4)), None, "not whole planes");
    }

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
        assert_eq!(products(&[], &[], 2, 0, 0, 4), Some(vec![]), "no output rows: nothing to write");
    }

    #[test]
    fn what_follows_a_product_sees_each_image_once_with_its_values_written() {
        let (n, m, k, p) = (5, 4, 3, 9);
        let weights: Vec<f32> = (0..m * k).map(|i| i as f32 - 5.0).collect();
        let input: Vec<f32> = (0..n * k * p).map(|i| (i % 11) as f32 / 2.0).collect();
        let plain = products(&weights, &input, n, m, k, p).unwrap();
        let seen = std::sync::atomic::AtomicUsize::new(0);
        let doubled = products_then(&weights, &input, (n, m, k, p), |image| {
            assert_eq!(image.len(), m * p, "one image's output");
            seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            image.iter_mut().for_each(|v| *v *= 2.0);
        })
        .unwrap();
        assert_eq!(seen.into_inner(), n);
        assert_eq!(doubled, plain.iter().map(|v| v * 2.0).collect::<Vec<_>>());
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
