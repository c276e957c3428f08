//! Fusion of pointwise chains. PP-OCR's LCNet blocks follow every convolution with a learnable
//! scale and shift, a hard-swish written as four operators (+3, clip to [0, 6], ×x, ÷6) and another
//! scale and shift: eight passes over a large feature map, each allocating its result. A chain of
//! such operators on one tensor runs here as one pass, block by block in cache, on every core.

use rayon::prelude::*;

/// One step of a fused chain. Registers are numbered in order of definition; register 0 is the
/// chain's input and every step defines the next register.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// `a·r + b`
    Affine {
        src: usize,
        a: f32,
        b: f32,
    },
    Clip {
        src: usize,
        lo: f32,
        hi: f32,
    },
    Relu {
        src: usize,
    },
    Sigmoid {
        src: usize,
    },
    HardSigmoid {
        src: usize,
        alpha: f32,
        beta: f32,
    },
    Mul {
        a: usize,
        b: usize,
    },
    Add {
        a: usize,
        b: usize,
    },
}

const BLOCK: usize = 2048;

/// Scratch space for one chain: a block of every register.
pub type Registers = Vec<[f32; BLOCK]>;

pub fn registers(steps: &[Step]) -> Registers {
    vec![[0f32; BLOCK]; steps.len() + 1]
}

thread_local! {
    /// This thread's registers, kept between chains (see [`with_registers`]).
    static REGISTERS: std::cell::RefCell<Registers> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Run `f` with this thread's registers, enough for `steps`. They are kept between calls and never
/// cleared: every step writes its register before a later step reads it. Allocating and zeroing
/// them for each task (rayon's `for_each_init` does so per split) cost a tenth of the OCR time.
pub fn with_registers<T>(steps: &[Step], f: impl FnOnce(&mut Registers) -> T) -> T {
    REGISTERS.with(|cell| match cell.try_borrow_mut() {
        Ok(mut regs) => {
            if regs.len() <= steps.len() {
                regs.resize(steps.len() + 1, [0.0; BLOCK]);
            }
            f(&mut regs)
        }
        // Only when `f` ran on this thread inside another chain's: the inner one gets its own.
        Err(_) => f(&mut registers(steps)),
    })
}

/// Apply `steps` to every element of `input`; the result is the last register. Tasks take many
/// blocks, so the registers are allocated once per task, not per block.
pub fn run(steps: &[Step], input: &[f32]) -> Vec<f32> {
    Epilogue { bias: None, steps }.apply(input, 1, BLOCK * 32)
}

/// What follows a convolution, applied to each output plane while it is still in cache: the
/// channel's bias, then a fused chain (often a scale, shift and hard-swish). Without it, each is
/// another pass over a feature map that no longer fits in cache.
#[derive(Debug, Clone, Copy)]
pub struct Epilogue<'a> {
    /// One per output channel.
    pub bias: Option<&'a [f32]>,
    pub steps: &'a [Step],
}

impl Epilogue<'_> {
    pub fn is_empty(&self) -> bool {
        self.bias.is_none() && self.steps.is_empty()
    }

    /// Apply in place to one output plane of `channel`.
    #[inline(always)]
    pub fn plane(&self, channel: usize, plane: &mut [f32], regs: &mut Registers) {
        let shift = self.bias.map_or(0.0, |b| b[channel]);
        if self.steps.is_empty() {
            if shift != 0.0 {
                plane.iter_mut().for_each(|v| *v += shift);
            }
            return;
        }
        for block in plane.chunks_mut(BLOCK) {
            regs[0][..block.len()].iter_mut().zip(block.iter()).for_each(|(r, v)| *r = v + shift);
            run_block(self.steps, block, regs);
        }
    }

    /// Apply to `data`, laid out as planes of `plane_len` values, plane `p` belonging to channel
    /// `p % channels`; returns the result.
    pub fn apply(&self, data: &[f32], channels: usize, plane_len: usize) -> Vec<f32> {
        let mut out = data.to_vec();
        self.apply_in_place(&mut out, channels, plane_len);
        out
    }

    /// [`Epilogue::apply`] on `data` itself, compiled for the CPU's widest vectors. Large planes
    /// are cut into pieces so that both cores share a map of few channels.
    pub fn apply_in_place(&self, data: &mut [f32], channels: usize, plane_len: usize) {
        if plane_len == 0 || channels == 0 || self.is_empty() {
            return;
        }
        let piece = plane_len.min(PIECE);
        data.par_chunks_mut(plane_len)
            .enumerate()
            .flat_map(|(p, plane)| plane.par_chunks_mut(piece).map(move |values| (p % channels, values)))
            .for_each(|(channel, values)| {
                with_registers(self.steps, |regs| crate::kernels::vectorized(Planes { epilogue: self, channel, values, regs }))
            });
    }
}

/// The most values one task of [`Epilogue::apply_in_place`] takes.
const PIECE: usize = 64 * 1024;

/// [`Epilogue::plane`] as a kernel for [`crate::kernels::vectorized`].
struct Planes<'a, 'b> {
    epilogue: &'b Epilogue<'a>,
    channel: usize,
    values: &'b mut [f32],
    regs: &'b mut Registers,
}

impl pulp::WithSimd for Planes<'_, '_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        self.epilogue.plane(self.channel, self.values, self.regs);
    }
}

/// Run the chain on one block whose input is already in register 0; write the result to `out`.
#[inline(always)]
fn run_block(steps: &[Step], out: &mut [f32], regs: &mut [[f32; BLOCK]]) {
    let n = out.len();
    for (i, step) in steps.iter().enumerate() {
        let (done, rest) = regs.split_at_mut(i + 1);
        let dst = &mut rest[0][..n];
        match *step {
            Step::Affine { src, a, b } => dst.iter_mut().zip(&done[src][..n]).for_each(|(d, s)| *d = a * s + b),
            Step::Clip { src, lo, hi } => dst.iter_mut().zip(&done[src][..n]).for_each(|(d, s)| *d = s.max(lo).min(hi)),
            Step::Relu { src } => dst.iter_mut().zip(&done[src][..n]).for_each(|(d, s)| *d = s.max(0.0)),
            Step::Sigmoid { src } => dst.iter_mut().zip(&done[src][..n]).for_each(|(d, s)| *d = 1.0 / (1.0 + (-s).exp())),
            Step::HardSigmoid { src, alpha, beta } => {
                dst.iter_mut().zip(&done[src][..n]).for_each(|(d, s)| *d = (alpha * s + beta).clamp(0.0, 1.0))
            }
            Step::Mul { a, b } => dst.iter_mut().zip(done[a][..n].iter().zip(&done[b][..n])).for_each(|(d, (x, y))| *d = x * y),
            Step::Add { a, b } => dst.iter_mut().zip(done[a][..n].iter().zip(&done[b][..n])).for_each(|(d, (x, y))| *d = x + y),
        }
    }
    out.copy_from_slice(&regs[steps.len()][..n]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hard_swish_chain_computes_x_times_clip_x_plus_3_over_6() {
        // r1 = 2x + 1 (scale, shift); r2 = r1 + 3; r3 = clip(r2, 0, 6); r4 = r1 · r3; r5 = r4 / 6
        let steps = [
            Step::Affine { src: 0, a: 2.0, b: 1.0 },
            Step::Affine { src: 1, a: 1.0, b: 3.0 },
            Step::Clip { src: 2, lo: 0.0, hi: 6.0 },
            Step::Mul { a: 1, b: 3 },
            Step::Affine { src: 4, a: 1.0 / 6.0, b: 0.0 },
        ];
        let input: Vec<f32> = (0..5000).map(|i| (i as f32 - 2500.0) / 500.0).collect();
        let out = run(&steps, &input);
        for (x, y) in input.iter().zip(&out) {
            let r1 = 2.0 * x + 1.0;
            let want = r1 * (r1 + 3.0).clamp(0.0, 6.0) / 6.0;
            assert!((y - want).abs() < 1e-5, "{x}: {y} vs {want}");
        }
    }

    #[test]
    fn an_epilogue_adds_each_planes_channel_bias_before_its_chain() {
        // Two images of three channels, planes of 5000 values (more than one block).
        let (channels, plane_len) = (3, 5000);
        let data: Vec<f32> = (0..2 * channels * plane_len).map(|i| ((i * 7 % 23) as f32 - 11.0) / 4.0).collect();
        let bias = [1.0, -2.0, 0.5];
        let steps = [Step::Relu { src: 0 }, Step::Affine { src: 1, a: 3.0, b: 0.0 }];
        let got = Epilogue { bias: Some(&bias), steps: &steps }.apply(&data, channels, plane_len);
        for (i, (x, y)) in data.iter().zip(&got).enumerate() {
            let channel = (i / plane_len) % channels;
            assert_eq!(*y, 3.0 * (x + bias[channel]).max(0.0), "element {i}");
        }
        let only_bias = Epilogue { bias: Some(&bias), steps: &[] }.apply(&data, channels, plane_len);
        assert_eq!(only_bias[plane_len], data[plane_len] - 2.0);
    }
}
